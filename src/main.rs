//! `provenant`, the binary: reads its settings, sets up the log, and serves (or runs one of
//! its subcommands: openapi, backup, migrate-to-postgres, doctor).

use clap::Parser;
use provenant::app::config::{self, Command, Config};

#[tokio::main]
async fn main() {
    let mut cli = Config::parse();
    provenant::base::console::use_json(cli.log_format == config::LogFormat::Json);
    if let Err(message) = cli.read_secret_files() {
        fail(&message);
    }
    match &cli.command {
        Some(Command::Openapi) => {
            println!("{}", provenant::http::api::spec_json());
            return;
        }
        Some(Command::Backup { to }) => {
            let database = match &cli.database_url {
                Some(url) => provenant::db::Location::postgres(url.as_str())
                    .unwrap_or_else(|e| fail(&format!("--database-url: {e:#}"))),
                None => provenant::db::Location::in_data_dir(&cli.data_dir_or_default()),
            };
            match provenant::db::backup(&database, to) {
                Ok(()) => eprintln!("backup written to {}", to.display()),
                Err(e) => fail(&format!("backup: {e:#}")),
            }
            return;
        }
        Some(Command::MigrateToPostgres) => {
            let Some(url) = &cli.database_url else {
                fail(
                    "migrate-to-postgres: --database-url (PROVENANT_DATABASE_URL) names the PostgreSQL database to copy into",
                )
            };
            match provenant::app::move_to_postgres::run(&cli.data_dir_or_default(), url.as_str()) {
                Ok(()) => {}
                Err(e) => fail(&format!("migrate-to-postgres: {e:#}")),
            }
            return;
        }
        Some(Command::Serve) | Some(Command::Doctor) | None => {}
    }
    let settings = match cli.validate() {
        Ok(s) => s,
        Err(message) => fail(&message),
    };
    if let Some(Command::Doctor) = cli.command {
        std::process::exit(provenant::app::doctor_cli::run(settings).await);
    }
    // The HTTP client's own debug and trace lines are never shown: they can carry a request's
    // URL, which for a Slack incoming webhook is the credential.
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("{},ureq=info,ureq_proto=info", cli.log))
            .unwrap_or_else(|_| fail(&format!("--log: `{}` is not a log filter", cli.log)));
    let json = cli.log_format == config::LogFormat::Json;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        // The same fields as the text lines, at the top level of one object per line.
        logs.with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .init();
    } else {
        // One line per event, whatever a field holds (see log_lines).
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        logs.with_ansi(ansi)
            .with_writer(provenant::base::log_lines::EscapedStderr { ansi })
            .init();
    }
    for name in config::unknown_env_vars() {
        tracing::warn!(variable = %name, "unknown PROVENANT_ setting ignored (typo?)");
    }
    provenant::base::crashpoint::check_setting();
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(l) => l,
        Err(e) => fail(&format!(
            "--listen: cannot listen on {}: {e}",
            settings.listen
        )),
    };
    let shutdown = shutdown_signal();
    if let Err(e) = provenant::app::run(settings, listener, shutdown).await {
        fail(&format!("{e:#}"));
    }
}

fn fail(message: &str) -> ! {
    provenant::base::console::fatal(&format!("provenant: {message}"));
    std::process::exit(2);
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed before this returns, so
/// a signal that arrives as soon as `listening on` is printed is a clean shutdown, not the
/// default action's abrupt exit.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .unwrap_or_else(|e| fail(&format!("installing the SIGTERM handler: {e}")));
        let mut interrupt = signal(SignalKind::interrupt())
            .unwrap_or_else(|e| fail(&format!("installing the SIGINT handler: {e}")));
        async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        }
    }
}
