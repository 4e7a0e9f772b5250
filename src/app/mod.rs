//! Wiring: data folder, database, token, writer, worker, routes, and the HTTP server.

pub mod config;
pub mod doctor_cli;
pub mod move_to_postgres;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::http::header;
use poem::listener::TcpAcceptor;
use poem::middleware::SetHeader;
use poem::{EndpointExt, Route, Server};

use crate::app::config::{Settings, TlsSource};
use crate::base::metrics::Metrics;
use crate::db::{self, writer::Writer};
use crate::domain::auth;
use crate::domain::hosts::AllowedHosts;
use crate::domain::secrets::SecretBox;
use crate::domain::webhook::directory::Directory;
use crate::http::acceptor::{GuardedAcceptor, Limits};
use crate::http::api;
use crate::http::proxy::ClientAddress;
use crate::http::state::AppState;
use crate::http::ui;
use crate::pipeline::cluster::{Node, Watcher, WatcherConfig};
use crate::pipeline::outbox::{self, OutboxConfig};
use crate::pipeline::worker::{Processors, Wakeup, Worker, WorkerConfig};
use crate::tls::Tls;

/// Requests to GitHub, GitLab and Slack in flight at once (each destination has at most one).
const OUTBOX_SENDERS: usize = 16;

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Two years, as browsers' preload lists ask; sent on https answers only.
const HSTS: &str = "max-age=63072000";

/// What the master key check seals; the text itself is no secret.
const KEY_CHECK: &str = "provenant master key check";

/// Stops the start when the master key is not the one the database was written with, before
/// anything is decrypted with it (on PostgreSQL, another node may have written it).
fn check_master_key(
    pool: &db::Pool,
    secrets: &SecretBox,
    database: &db::Location,
    now: i64,
) -> anyhow::Result<()> {
    let conn = pool.get()?;
    let verdict = db::keys::check(
        conn.conn(),
        || secrets.encrypt(KEY_CHECK, KEY_CHECK),
        |sealed| {
            secrets
                .decrypt(KEY_CHECK, sealed)
                .is_ok_and(|t| t == KEY_CHECK)
        },
        now,
    )?;
    if verdict == db::keys::KeyCheck::Differs {
        anyhow::bail!(
            "the master key is not the one the database at {} was written with: start this node \
             with the same --master-key (PROVENANT_MASTER_KEY) as the first one, or put its \
             master-key file back into the data folder",
            database.describe()
        );
    }
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves, with the standard processors.
pub async fn run(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_with(settings, listener, shutdown, Processors::default()).await
}

/// Like [`run`], with the processors chosen by the caller (tests use this seam).
pub async fn run_with(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    processors: Processors,
) -> anyhow::Result<()> {
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    // A certificate that cannot be read stops the start, before anything else is done.
    let tls = match &settings.tls {
        None => None,
        Some(TlsSource::Acme(_)) => Some(Arc::new(Tls::new().map_err(anyhow::Error::msg)?)),
        Some(TlsSource::Files(files)) => {
            let tls = Tls::new().map_err(anyhow::Error::msg)?;
            let files = files.clone();
            let tls = tokio::task::spawn_blocking(move || {
                crate::tls::files::load_into(&files, &tls).map(|()| tls)
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            Some(Arc::new(tls))
        }
    };
    let redirect_listener = match settings.redirect_http {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("--redirect-http: cannot listen on {address}"))?,
        ),
        None => None,
    };
    let data_dir = settings.data_dir.clone();
    let _lock = match &data_dir {
        Some(folder) => {
            crate::base::files::create_data_dir(folder)?;
            Some(crate::base::files::lock_data_dir(folder)?)
        }
        None => None,
    };
    let acme = match (&settings.tls, &tls, &data_dir) {
        (Some(TlsSource::Acme(acme)), Some(tls), Some(folder)) => Some(
            crate::tls::acme::Acme::start(acme.clone(), folder, tls.clone())
                .context("--acme-domain")?,
        ),
        (Some(TlsSource::Acme(_)), _, None) => {
            anyhow::bail!(
                "--acme-domain: the certificate is kept in the data folder; give --data-dir"
            )
        }
        _ => None,
    };
    let database = match (&settings.database_url, &data_dir) {
        (Some(url), _) => db::Location::postgres(url.as_str()).context("--database-url")?,
        (None, Some(folder)) => db::Location::in_data_dir(folder),
        (None, None) => anyhow::bail!("a node without a data folder needs --database-url"),
    };
    if let Some(folder) = &data_dir {
        crate::base::files::restrict_data_dir(folder, !database.is_postgres());
    } else {
        tracing::info!(
            "no data folder: the API token and the master key are the ones given, and the node \
             id is {}",
            if settings.node_id.is_some() {
                "the one given"
            } else {
                "new at every start (give --node-id to keep one)"
            }
        );
    }
    let pool = {
        let database = database.clone();
        tokio::task::spawn_blocking(move || db::open(&database)).await??
    };
    let (api_token, secrets) = match &data_dir {
        Some(folder) => {
            // The WAL and shared-memory files exist now; a leftover from before is fixed too.
            crate::base::files::restrict_data_dir(folder, !database.is_postgres());
            (
                auth::load_or_create(folder, settings.api_token.as_deref())?,
                SecretBox::load_or_create(folder, settings.master_key.as_deref())?,
            )
        }
        None => (
            auth::configured(settings.api_token.as_deref())
                .context("a node without a data folder needs --api-token")?,
            SecretBox::configured(settings.master_key.as_deref())
                .context("a node without a data folder needs --master-key")?,
        ),
    };
    let secrets = Arc::new(secrets);
    check_master_key(&pool, &secrets, &database, settings.clock.now_ms())?;
    tracing::info!(database = %database.describe(), "opened the database");
    {
        // Inline tokens and Slack URLs stored by an older version are sealed now.
        let (database, secrets) = (database.clone(), secrets.clone());
        let sealed = tokio::task::spawn_blocking(move || {
            crate::pipeline::secrets::seal_stored_configs(&database, &secrets)
        })
        .await??;
        if sealed > 0 {
            tracing::info!(
                integrations = sealed,
                "sealed inline credentials in stored configs with the master key"
            );
        }
    }
    let metrics = Arc::new(Metrics::new(database.file().map(Into::into)));
    let allowed_hosts = {
        let trusted = db::hosts::trusted(pool.get()?.conn())?;
        Arc::new(AllowedHosts::new(
            settings.egress_allow.iter().cloned().chain(trusted),
        ))
    };
    let public_url = settings.public_url_for(local);
    let certificate_watch = match (&settings.tls, &tls) {
        (Some(TlsSource::Files(files)), Some(tls)) => {
            if let Some(about) = tls.store.about() {
                metrics.tls_loaded("files", "ok", Some(about.not_after));
            }
            Some(crate::tls::files::watch(
                files.clone(),
                tls.clone(),
                metrics.clone(),
            ))
        }
        (Some(TlsSource::Acme(_)), Some(tls)) => {
            if let Some(about) = tls.store.about() {
                metrics.tls_loaded("cache", "ok", Some(about.not_after));
            }
            acme.map(|acme| acme.run(metrics.clone(), settings.clock.clone()))
        }
        _ => None,
    };
    let node_id =
        crate::pipeline::cluster::node_id(settings.node_id.as_deref(), data_dir.as_deref())?;
    let node = Arc::new(Node::new(node_id.id, settings.node_lease));
    metrics.set_node(&node.id);
    {
        let (database, node, address) = (database.clone(), node.clone(), public_url.clone());
        let ran_here_before = node_id.ran_here_before;
        tokio::task::spawn_blocking(move || {
            crate::pipeline::cluster::join(&database, &node, ran_here_before, &address)
        })
        .await??;
    }
    let app_tokens = Arc::new(crate::remote::github_app::InstallationTokens::new());
    let http = crate::remote::agent::agent(allowed_hosts.clone());
    let (outbox, outbox_thread) = outbox::start(OutboxConfig {
        database: database.clone(),
        http: http.clone(),
        secrets: secrets.clone(),
        retry_schedule: settings.retry_schedule.clone(),
        senders: OUTBOX_SENDERS,
        metrics: metrics.clone(),
        clock: settings.clock.clone(),
        allowed_hosts: allowed_hosts.clone(),
        claim_token: node.claim_token.clone(),
        app_tokens: app_tokens.clone(),
        public_url: public_url.clone(),
        max_queued_alerts: settings.max_queued_alerts,
    })?;

    let write_gate = db::WriteGate::default();
    let recent = Arc::new(db::stats::Recent::new(
        settings.alerts.check_every.is_some(),
    ));
    let config_generation = db::integrations::Generation::default();
    let worker = Worker::new(WorkerConfig {
        recent: recent.clone(),
        write_gate: write_gate.clone(),
        config_generation: config_generation.clone(),
        database: database.clone(),
        processors,
        retry_schedule: settings.retry_schedule.clone(),
        retention: settings.retention,
        audit_retention: settings.audit_retention,
        secrets: secrets.clone(),
        outbox: outbox.clone(),
        public_url: public_url.clone(),
        metrics: metrics.clone(),
        clock: settings.clock.clone(),
        max_queued_alerts: settings.max_queued_alerts,
        node: node.clone(),
    })?;
    let wakeup = Wakeup::default();
    // The writer thread stops by itself once the last `Writer` handle (in the state) is gone.
    let storage = Arc::new(db::storage::Storage::new(&database, settings.clock.clone()));
    let (writer, writer_thread) = Writer::spawn(
        &database,
        settings.sync,
        write_gate.clone(),
        storage.clone(),
        &node.id,
        recent.clone(),
        {
            let wakeup = wakeup.clone();
            move || wakeup.wake()
        },
    )?;
    let worker = worker.spawn(wakeup.clone())?;
    // Events stored before this start (or left by a crash) are waiting: look at once.
    wakeup.wake();
    let receivers: Arc<Directory> = Default::default();
    let watcher = Watcher::start(WatcherConfig {
        database: database.clone(),
        node: node.clone(),
        on_work: Box::new({
            let (wakeup, outbox) = (wakeup.clone(), outbox.clone());
            move || {
                wakeup.wake();
                outbox.wake();
            }
        }),
        on_config: Box::new({
            let (receivers, generation) = (receivers.clone(), config_generation.clone());
            move || {
                receivers.invalidate();
                generation.bump();
            }
        }),
    })?;

    let limits = Limits {
        idle: settings.idle_timeout,
        head: settings.head_timeout,
        total: settings.max_connections,
        per_source: settings.max_connections_per_ip,
    };
    let (reconcile_waker, after_gap) = crate::pipeline::reconcile::ReconcileWaker::new();
    let failed_sign_ins = Arc::new(crate::http::throttle::Throttle::with_total(
        settings.failed_sign_ins_per_minute,
        settings.failed_sign_ins_total_per_minute,
    ));
    // Sign-ins started (each a row until it ends or expires): the same caps.
    let sign_in_starts = Arc::new(crate::http::throttle::Throttle::with_total(
        settings.failed_sign_ins_per_minute,
        settings.failed_sign_ins_total_per_minute,
    ));
    let sso = settings
        .sso
        .clone()
        .map(|sso| Arc::new(crate::remote::oidc::Provider::new(sso, http.clone())));
    let ci_issuers = Arc::new(crate::remote::ci_oidc::CiIssuers::new(
        &settings.ci_issuers,
        &http,
    ));
    // What background work shares: handed to each task, and read by the handlers through
    // the state.
    let ctx = Arc::new(crate::pipeline::ctx::Ctx {
        pool,
        write_gate,
        clock: settings.clock.clone(),
        node,
        http,
        secrets,
        allowed_hosts,
        public_url,
        wakeup,
        outbox,
        storage,
        recent,
        max_queued_alerts: settings.max_queued_alerts,
    });
    let replay_waker = crate::pipeline::replay::ReplayWaker::default();
    let last_alert_check = Arc::new(crate::pipeline::alerts::LastCheck::default());
    let state = Arc::new(AppState {
        ctx: ctx.clone(),
        failed_sign_ins,
        sign_in_starts,
        last_doctor: Default::default(),
        sso,
        ci_issuers,
        writer,
        api_token,
        max_body_bytes: settings.max_body_bytes,
        data_dir: settings.data_dir.clone(),
        metrics,
        receivers,
        config_generation,
        last_alert_check: last_alert_check.clone(),
        replays: replay_waker.clone(),
        reconcile: reconcile_waker,
        tls: tls.clone(),
    });
    // The background jobs, started here, each with its own parts: replays by filter, paced;
    // the alerts' checks; the failed sign-ins' audit; reconciling with delivery logs. Stopped
    // before the state is released (the writer stops then).
    let (stop_replays, replays_stopped) = tokio::sync::watch::channel(false);
    let replays = tokio::spawn(crate::pipeline::replay::run(
        ctx.clone(),
        replay_waker,
        replays_stopped.clone(),
    ));
    let alerting = tokio::spawn(crate::pipeline::alerts::run(
        ctx.clone(),
        settings.alerts.clone(),
        last_alert_check,
        replays_stopped.clone(),
    ));
    let auditing_failures = tokio::spawn(api::guard::audit_failed_sign_ins(
        state.clone(),
        replays_stopped.clone(),
    ));
    let reconciling = settings.reconcile_every.map(|every| {
        tokio::spawn(crate::pipeline::reconcile::run(
            ctx.clone(),
            every,
            after_gap,
            replays_stopped,
        ))
    });
    let proxies = settings.trusted_proxies.clone();
    let pages = ui::routes(state.clone());
    let app = Route::new()
        .at(
            "/metrics",
            poem::get(api::metrics::scrape).data(state.clone()),
        )
        .nest("/auth", api::sso::routes(state.clone()))
        .nest("/api", api::routes(state))
        .nest("/", pages)
        .around(api::middleware::log_requests)
        .with_if(
            tls.is_some(),
            // Browsers that once reached these pages over https never try plain http again.
            SetHeader::new().overriding(header::STRICT_TRANSPORT_SECURITY, HSTS),
        )
        .with(ClientAddress {
            proxies: proxies.clone(),
        });

    // One shutdown for every listener.
    let (stop_listening, stopped) = tokio::sync::watch::channel(false);
    let redirecting = match redirect_listener {
        Some(listener) => {
            let address = listener
                .local_addr()
                .context("reading the redirect address")?;
            crate::base::console::say(&format!("redirecting http://{address} to https"));
            let acceptor = GuardedAcceptor::new(
                TcpAcceptor::from_tokio(listener)?,
                limits,
                None,
                proxies.clone(),
            );
            let mut stopped = stopped.clone();
            Some(tokio::spawn(
                Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                    crate::tls::redirect::endpoint(
                        local.port(),
                        tls.as_ref().map(|t| t.store.challenges.clone()),
                    )
                    .around(api::middleware::log_requests)
                    .with(ClientAddress {
                        proxies: proxies.clone(),
                    }),
                    async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    },
                    Some(SHUTDOWN_GRACE),
                ),
            ))
        }
        None => None,
    };
    crate::base::console::say(&format!(
        "listening on {}://{local}",
        if tls.is_some() { "https" } else { "http" }
    ));
    let acceptor = GuardedAcceptor::new(
        TcpAcceptor::from_tokio(listener)?,
        limits,
        tls.as_ref().map(|t| t.config.clone()),
        proxies,
    );
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app,
            async move {
                shutdown.await;
                let _ = stop_listening.send(true);
            },
            Some(SHUTDOWN_GRACE),
        )
        .await;
    if let Some(task) = redirecting {
        let _ = task.await;
    }
    if let Some(task) = certificate_watch {
        task.abort();
    }
    let _ = stop_replays.send(true);
    let _ = replays.await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, alerting).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, auditing_failures).await;
    if let Some(task) = reconciling {
        // A check in progress finishes its HTTP calls (bounded by their timeouts) first.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
    }
    tokio::task::spawn_blocking(move || {
        worker.stop();
        outbox_thread.stop();
        // Last: its claims are back in their queues, and other nodes may take its duties.
        watcher.stop();
    })
    .await?;
    // The state (and with it the writer's queue) is released once the last connection task
    // ends; then the writer finishes its batch and closes the database cleanly.
    let writer_done = tokio::task::spawn_blocking(move || writer_thread.join());
    if tokio::time::timeout(SHUTDOWN_GRACE, writer_done)
        .await
        .is_err()
    {
        tracing::warn!("the delivery writer did not stop in time");
    }
    served.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}
