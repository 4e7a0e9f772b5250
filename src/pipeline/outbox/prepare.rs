//! Turning a claimed outbox row into a request: the integration's current config, its
//! credentials resolved at this moment, and for a GitHub deployment status the id of the
//! deployment created before it.

use crate::db::Conn;

use crate::base::error::AppResult;
use crate::db::installations;
use crate::db::integrations;
use crate::db::integrations::Integration;
use crate::db::outbox::{Finish, OutboxRow};
use crate::db::runs;
use crate::db::slack as slack_db;
use crate::domain::block_kit;
use crate::domain::hosts::AllowedHosts;
use crate::domain::integration_config::{IntegrationConfig, Target};
use crate::domain::model::OutboxKind;
use crate::domain::secrets::SecretBox;
use crate::pipeline::notify::pacer;
use crate::pipeline::report;
use crate::pipeline::secrets;
use crate::remote::call::{self, ApiCall, Method};
use crate::remote::create_once::{CreateOnce, Found};
use crate::remote::forge::Forge;
use crate::remote::github_app::{self, Acting, AppAuth, PrivateKey};
use crate::remote::{self, Request};

use super::prepared::{Env, Prepared, Remote, failed};

/// `repo#number` of the pull request a message is about (its Slack thread), when it names one.
pub fn thread_key(row: &OutboxRow) -> Option<String> {
    let facts = &row.request;
    let repo = facts["repo"].as_str()?;
    let number = facts["pr"].as_i64()?;
    Some(format!("{repo}#{number}"))
}

/// A message through the Web API: `chat.update` of the message already posted about the same
/// run or deployment, otherwise `chat.postMessage`, in the pull request's thread when it has
/// one. Paced at one message a second per channel.
fn prepare_bot_message(
    conn: Conn<'_>,
    env: &Env<'_>,
    row: &OutboxRow,
    config: &crate::domain::integration_config::SlackConfig,
    now: i64,
) -> AppResult<Prepared> {
    let base = config.api_base();
    let token = match secrets::resolve_config_value(
        conn,
        env.secrets,
        &row.integration_id,
        "bot_token",
        config.bot_token.as_deref(),
        Some(&base),
    ) {
        Ok(Some(token)) => token,
        Ok(None) => return Ok(failed("config.bot_token is not set")),
        Err(e) => return Ok(failed(e)),
    };
    let Some(channel) = config.channel.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(failed("config.channel is needed with a bot token"));
    };
    let facts = row.request.as_object().cloned().unwrap_or_default();
    let mut message =
        block_kit::build_message(row.event_type.as_deref().unwrap_or(""), &facts, config);
    let posted = match &row.subject_id {
        Some(subject) => slack_db::post(conn, &row.integration_id, subject)?,
        None => None,
    };
    let method = match posted {
        Some((posted_channel, ts)) => {
            message["channel"] = posted_channel.into();
            message["ts"] = ts.into();
            "chat.update"
        }
        None => {
            message["channel"] = channel.into();
            if let Some(key) = thread_key(row)
                && let Some(ts) = slack_db::thread(conn, &row.integration_id, &key)?
            {
                message["thread_ts"] = ts.into();
            }
            "chat.postMessage"
        }
    };
    let url = format!("{base}/{method}");
    // Taken last: nothing between here and the send can fail and leave the turn held.
    let turn = match pacer::try_take(conn, &format!("{base} {channel}"), urgent(row))? {
        Ok(turn) => turn,
        Err(wait) => return Ok(waiting_for_slack(now, wait)),
    };
    Ok(Prepared::Send(
        Request {
            method: "POST".into(),
            show_answer: env.allowed.shows(&url),
            plain_http_ok: env.allowed.credentials_may_go_to(&url),
            url,
            headers: vec![
                ("authorization", format!("Bearer {token}")),
                ("content-type", "application/json; charset=utf-8".into()),
            ],
            body: Some(serde_json::to_vec(&message).unwrap_or_default()),
            url_is_secret: false,
            body_secret: None,
        },
        Remote::SlackApi,
        Some(turn),
    ))
}

/// Another message has this URL's (or channel's) second: this one comes back when it ends.
fn waiting_for_slack(now: i64, wait: std::time::Duration) -> Prepared {
    Prepared::Settled(Finish::Again {
        error: "waiting for Slack's one-message-a-second limit".into(),
        status: None,
        due: now + wait.as_millis() as i64 + 1,
        counted: false,
    })
}

/// Messages about eval runs and deployments (and tests) go before alerts, which queue apart.
fn urgent(row: &OutboxRow) -> bool {
    !crate::pipeline::notify::announce::is_alerts_destination(&row.destination)
}

pub fn prepare(conn: Conn<'_>, env: &Env<'_>, row: &OutboxRow, now: i64) -> AppResult<Prepared> {
    let Some(integration) = integrations::find(conn, &row.integration_id)?.filter(|i| i.is_active)
    else {
        return Ok(failed("the integration is inactive or deleted"));
    };
    if row.kind == OutboxKind::Dispatch && report::is_runner(&row.destination) {
        return super::runner::prepare(conn, env, row, &integration, now);
    }
    if row.kind == OutboxKind::SlackMessage {
        let IntegrationConfig::Slack(config) = &integration.settings else {
            return Ok(failed("the integration is not a SLACK one"));
        };
        if config.bot_token.is_some() {
            return prepare_bot_message(conn, env, row, config, now);
        }
        // The URL is the credential: where it points is its own value.
        let url = match secrets::resolve_config_value(
            conn,
            env.secrets,
            &row.integration_id,
            "webhook_url",
            config.webhook_url.as_ref().map(|u| u.as_str()),
            None,
        ) {
            Ok(Some(url)) => url,
            Ok(None) => return Ok(failed("config.webhook_url is not set")),
            Err(e) => return Ok(failed(e)),
        };
        if crate::domain::hosts::origin(&url).is_none_or(|o| !o.starts_with("http")) {
            // Never repeated: a reference may name a secret that is not a URL at all.
            return Ok(failed(
                "config.webhook_url does not hold an absolute http(s) URL",
            ));
        }
        // Another row (or the same URL under another integration) used this second.
        let turn = match pacer::try_take(conn, &url, urgent(row))? {
            Ok(turn) => turn,
            Err(wait) => return Ok(waiting_for_slack(now, wait)),
        };
        let facts = row.request.as_object().cloned().unwrap_or_default();
        let message =
            block_kit::build_message(row.event_type.as_deref().unwrap_or(""), &facts, config);
        let request = Request {
            method: "POST".into(),
            show_answer: env.allowed.shows(&url),
            plain_http_ok: env.allowed.credentials_may_go_to(&url),
            url,
            headers: vec![("content-type", "application/json".into())],
            // Exact bytes: compact JSON.
            body: Some(serde_json::to_vec(&message).unwrap_or_default()),
            url_is_secret: true,
            body_secret: None,
        };
        return Ok(Prepared::Send(request, Remote::Slack, Some(turn)));
    }

    let Some(forge) = Forge::of(&integration.settings) else {
        return Ok(failed(
            "the integration is not a GITHUB or GITLAB one any more",
        ));
    };
    let mut call = match ApiCall::from_json(&row.request) {
        Ok(call) => call,
        Err(e) => return Ok(failed(e)),
    };
    let base = remote::api_base(&integration.settings);
    // A pipeline trigger carries its token in the body, added now: the row never holds it.
    let trigger_token = if row.kind == OutboxKind::Dispatch && forge == Forge::Gitlab {
        match trigger_token(conn, env, row, &integration, &base) {
            Ok(token) => Some(token),
            Err(finish) => return Ok(Prepared::Settled(finish)),
        }
    } else {
        None
    };
    if let (Some(token), Some(body)) = (&trigger_token, call.body.as_mut()) {
        body["token"] = serde_json::json!(token);
    }
    let app = match app_auth(conn, env, &integration, &call, &base) {
        Ok(app) => app,
        Err(e) => return Ok(failed(e)),
    };
    let token = if app.is_some() {
        // Added by the sender, just before sending.
        String::new()
    } else {
        match secrets::resolve_config_value(
            conn,
            env.secrets,
            &integration.id,
            "token",
            integration.settings.token(),
            Some(&base),
        ) {
            Ok(Some(token)) => token,
            Ok(None) => return Ok(failed("the integration has no token any more")),
            Err(e) => return Ok(failed(e)),
        }
    };
    let mut path = call.path.clone();
    if let Some(subject) = row.subject_id.as_deref()
        && let Some(object) = created_once(row.kind)
    {
        match (
            row.kind == object.create,
            (object.remote_id)(conn, subject)?,
        ) {
            // Sent before a crash and answered: creating it again would duplicate it.
            (true, Some(id)) => {
                return Ok(Prepared::Settled(Finish::Sent {
                    status: 200,
                    excerpt: format!("already created: GitHub {} {id}", object.what),
                }));
            }
            // GitHub's id comes from its answer: still only ever one segment.
            (false, Some(id)) => path = path.replace(object.placeholder, &remote::segment(&id)),
            (false, None) => {
                return Ok(failed(format!(
                    "no GitHub {} was created for this {}; see its {} row",
                    object.what,
                    object.subject,
                    object.create.as_str()
                )));
            }
            (true, None) => {}
        }
    }
    let mut method = call.method;
    if row.kind == OutboxKind::PrComment
        && let Some((edit_method, edit_path)) = super::comments::edit(conn, row, forge, &path)?
    {
        (method, path) = (edit_method, edit_path);
    }
    let mut headers = forge.headers(&token);
    if app.is_some() {
        headers.retain(|(name, _)| *name != "authorization");
    }
    let body = call.body.as_ref().map(|body| {
        headers.push(("content-type", "application/json".into()));
        serde_json::to_vec(body).unwrap_or_default()
    });
    let request = Request {
        method: method.as_str().to_string(),
        show_answer: env.allowed.shows(&base),
        plain_http_ok: env.allowed.credentials_may_go_to(&base),
        url: format!("{base}{path}"),
        headers,
        body,
        url_is_secret: false,
        body_secret: trigger_token,
    };
    // A new results comment: unless an earlier attempt made it (its answer lost).
    let creating_comment = row.kind == OutboxKind::PrComment && method == Method::Post;
    let once = match row.kind {
        OutboxKind::CheckRun => check_run_lookup(&call, &base),
        _ if creating_comment => comment_lookup(&call, &base, forge),
        _ => None,
    };
    Ok(match (app, once) {
        (Some(app), once) => Prepared::SendAsApp(request, app, once),
        (None, Some(once)) => Prepared::SendCreatingOnce(request, Remote::Forge(forge), once),
        (None, None) => Prepared::Send(request, Remote::Forge(forge), None),
    })
}

/// The trigger token of the GitLab pipeline a DISPATCH row starts, resolved now; or how the
/// row ends without one (the pipeline was taken out of the config: the run waits to be
/// polled for, as it would have without one).
fn trigger_token(
    conn: Conn<'_>,
    env: &Env<'_>,
    row: &OutboxRow,
    integration: &Integration,
    base: &str,
) -> Result<String, Finish> {
    let kind = row.event_type.as_deref().and_then(report::dispatched_kind);
    let section = kind.map_or("eval", |k| k.section());
    let target = kind
        .and_then(|kind| integration.settings.dispatch(kind))
        .and_then(|d| d.target());
    let Some(Target::GitlabPipeline { token, .. }) = target else {
        return Err(Finish::Sent {
            status: 0,
            excerpt: format!(
                "not sent: config.{section}.dispatch names no gitlab_pipeline since the run was made"
            ),
        });
    };
    match secrets::resolve_config_value(
        conn,
        env.secrets,
        &integration.id,
        &format!("{section}.dispatch.gitlab_pipeline.token"),
        Some(token),
        Some(base),
    ) {
        Ok(Some(token)) => Ok(token),
        Ok(None) => Err(Finish::Failed {
            error: format!("config.{section}.dispatch.gitlab_pipeline.token is not set"),
            status: None,
        }),
        Err(error) => Err(Finish::Failed {
            error,
            status: None,
        }),
    }
}

/// Something GitHub creates once and later rows change, by the id its answer gave: a
/// deployment and its statuses, a check run and its updates.
struct CreatedOnce {
    /// The kind of the row that creates it; the other kinds refer to it.
    create: OutboxKind,
    what: &'static str,
    /// What the rows are about (their subject).
    subject: &'static str,
    /// Where the later rows' paths take its id.
    placeholder: &'static str,
    /// GitHub's id for it, once an answer gave one.
    remote_id: fn(Conn<'_>, &str) -> AppResult<Option<String>>,
}

fn created_once(kind: OutboxKind) -> Option<CreatedOnce> {
    match kind {
        OutboxKind::Deployment | OutboxKind::DeploymentStatus => Some(CreatedOnce {
            create: OutboxKind::Deployment,
            what: "deployment",
            subject: "deployment",
            placeholder: "{deployment_id}",
            remote_id: |conn, id| {
                Ok(runs::get_deployment(conn, id)
                    .ok()
                    .and_then(|d| d.remote_id))
            },
        }),
        OutboxKind::CheckRun | OutboxKind::CheckRunUpdate => Some(CreatedOnce {
            create: OutboxKind::CheckRun,
            what: "check run",
            subject: "eval run",
            placeholder: "{check_run_id}",
            remote_id: runs::check_run_id,
        }),
        _ => None,
    }
}

/// Where a CHECK_RUN row's check run would be listed if an earlier attempt created it.
fn check_run_lookup(call: &ApiCall, base: &str) -> Option<CreateOnce> {
    let body = call.body.as_ref()?;
    let (sha, external_id) = (body["head_sha"].as_str()?, body["external_id"].as_str()?);
    let path = call.path.strip_suffix("/check-runs")?;
    Some(CreateOnce {
        lookup_url: format!(
            "{base}{path}{}?check_name={}&filter=all",
            remote::path(&["commits", sha, "check-runs"]),
            crate::domain::actions::EVAL_CONTEXT.replace('/', "%2F")
        ),
        find: Found::CheckRun {
            external_id: external_id.to_string(),
        },
    })
}

/// Where a PR_COMMENT row's comment (GitLab: note) would be listed if an earlier attempt
/// created it: the pull request's first hundred, oldest first, found by its keyed mark.
fn comment_lookup(call: &ApiCall, base: &str, forge: Forge) -> Option<CreateOnce> {
    let body = call.body.as_ref()?["body"].as_str()?;
    let mark = body.lines().next()?.trim();
    if !mark.starts_with(report::COMMENT_MARK_START) {
        return None;
    }
    let query = match forge {
        Forge::Github => "?per_page=100",
        Forge::Gitlab => "?per_page=100&sort=asc&order_by=created_at",
    };
    Some(CreateOnce {
        lookup_url: format!("{base}{}{query}", call.path),
        find: Found::Comment {
            mark: mark.to_string(),
        },
    })
}

/// A GITHUB integration that runs as an App: its credentials, the key opened now, acting as
/// the App itself. None when it does not run as an App. Shared with reconcile, which reads
/// the App's delivery log.
pub fn open_app(
    conn: Conn<'_>,
    secrets: &SecretBox,
    allowed: &AllowedHosts,
    integration: &Integration,
    base: &str,
) -> Result<Option<AppAuth>, String> {
    let Some(app) = integration.settings.github_app() else {
        return Ok(None);
    };
    let key = secrets::resolve_config_value(
        conn,
        secrets,
        &integration.id,
        "private_key",
        Some(app.private_key),
        Some(base),
    )?
    .ok_or("the integration has no App private key any more")?;
    Ok(Some(AppAuth {
        app_id: app.app_id,
        key_fingerprint: secrets.fingerprint(&key),
        private_key: PrivateKey(key),
        acting: Acting::App,
        api_base: base.to_string(),
        plain_http_ok: allowed.credentials_may_go_to(base),
    }))
}

/// [`open_app`], acting as the row says: the App itself (its own endpoints), or its
/// installation on the row's repository.
fn app_auth(
    conn: Conn<'_>,
    env: &Env<'_>,
    integration: &Integration,
    call: &ApiCall,
    base: &str,
) -> Result<Option<AppAuth>, String> {
    let (Some(mut auth), IntegrationConfig::Github(config)) = (
        open_app(conn, env.secrets, env.allowed, integration, base)?,
        &integration.settings,
    ) else {
        return Ok(None);
    };
    if call.acting == call::Acting::App {
        return Ok(Some(auth));
    }
    // The row's own repository (an integration may take several), else the one configured.
    let repo = call
        .repo
        .as_deref()
        .or(config.single_repo())
        .ok_or("the row names no repository to authenticate for")?
        .to_string();
    // Configured, or named by a delivery from that account; else the sender asks GitHub.
    let installation_id = match config.installation_id {
        Some(id) => Some(id),
        None => installations::on_account(conn, &integration.id, github_app::owner_of(&repo))
            .map_err(|e| e.to_string())?
            .and_then(|id| u64::try_from(id).ok()),
    };
    auth.acting = Acting::Installation {
        installation_id,
        repo,
    };
    Ok(Some(auth))
}
