#![recursion_limit = "256"]
//! `provenant-bench`: how fast the real server receives, processes and serves, side by side
//! with the limits of the same machine, in one run.
//!
//! cargo run --release --bin provenant-bench -- [--seconds 10] [--only ingest-pr,pages-at-1m]
//!
//! Each scenario starts a fresh server (this executable with `--serve`, the same code as
//! `provenant`) on a temporary data folder; the load generator runs in this process over
//! keep-alive connections. The table is printed and written as JSON (`--json`). The exit code
//! is non-zero when a scenario fails to run or gets errors, not when a target is missed.

mod client;
mod fixtures;
mod load;
mod report;
mod runner;
mod scenarios;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "provenant-bench",
    about = "Benchmarks the real server on this machine"
)]
pub struct Args {
    /// Measured seconds per load scenario (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Events stored before `backlog-drain` starts the worker.
    #[arg(long, default_value_t = 100_000)]
    pub backlog: u64,
    /// Events stored for `pages-at-1m`.
    #[arg(long, default_value_t = 1_000_000)]
    pub page_events: u64,
    /// Restarts (cold samples) in `pages-at-1m`.
    #[arg(long, default_value_t = 5)]
    pub restarts: usize,
    /// Only these scenarios (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench-results.json")]
    pub json: PathBuf,
    /// Sign deliveries with this secret instead of the integration's (a check that a run
    /// whose deliveries are refused reports failure).
    #[arg(long, hide = true)]
    pub sign_with: Option<String>,
    /// Run every server on this PostgreSQL database (each scenario in a fresh schema of its
    /// own) instead of a SQLite file in its data folder.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Internal: run the real server on this data folder.
    #[arg(long, hide = true)]
    pub serve: Option<PathBuf>,
    /// Internal: the real server's database URL.
    #[arg(long, hide = true)]
    pub serve_database_url: Option<String>,
    /// Internal: run the HTTP-only ceiling server.
    #[arg(long, hide = true)]
    pub serve_ceiling: bool,
}

impl Args {
    pub fn measured(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(name))
    }
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.serve {
        quiet_logs();
        exit_on(server::serve_real(dir, args.serve_database_url.as_deref()));
        return;
    }
    if args.serve_ceiling {
        exit_on(server::serve_ceiling());
        return;
    }
    server::use_database(args.database_url.clone());
    let results = scenarios::run_all(&args);
    report::print(&results);
    if let Err(e) = report::write_json(&args.json, &results) {
        eprintln!("could not write {}: {e:#}", args.json.display());
    }
    println!("\nJSON written to {}", args.json.display());
    if results.failed() {
        eprintln!("provenant-bench: a scenario failed or got errors (see above)");
        std::process::exit(1);
    }
}

fn exit_on(result: anyhow::Result<()>) {
    if let Err(e) = result {
        eprintln!("server: {e:#}");
        std::process::exit(2);
    }
}

/// The server child logs warnings and errors only: the bench's output is the table.
fn quiet_logs() {
    let filter = tracing_subscriber::EnvFilter::try_new("warn")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
