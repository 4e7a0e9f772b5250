//! The results table, printed and as JSON.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub date: String,
    pub machine: String,
    pub scenarios: Vec<Row>,
    pub pages: Vec<PageRow>,
    /// Scenarios that could not run, or got errors: name and what happened.
    pub failures: Vec<(String, String)>,
}

impl Results {
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// One load scenario. Rates are per second; latencies in milliseconds.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Row {
    pub name: String,
    pub rate: f64,
    /// What `rate` counts: requests, rows or events.
    pub unit: &'static str,
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
    pub ack_p999_ms: Option<f64>,
    pub errors: u64,
    /// Receipt to PROCESSED, from the stored times (millisecond resolution).
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub stored_bytes_per_1000: Option<f64>,
    pub body_bytes: Option<usize>,
    /// The scenario's rate divided by its ceiling's.
    pub of_ceiling: Option<f64>,
    pub note: String,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct PageRow {
    pub request: String,
    pub warm_p50_ms: f64,
    pub warm_p99_ms: f64,
    pub cold_p50_ms: f64,
    pub cold_p99_ms: f64,
    pub peak_rss_mb: Option<f64>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

pub fn print(r: &Results) {
    println!("\nprovenant-bench, {} ({})\n", r.date, r.machine);
    println!(
        "| scenario | rate | ack p50 / p99 / p99.9 ms | errors | e2e p50 / p99 ms | peak RSS MB | stored B per 1000 (of body) | of ceiling |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in &r.scenarios {
        let stored = match (row.stored_bytes_per_1000, row.body_bytes) {
            (Some(s), Some(b)) => format!("{:.0} ({:.0} %)", s, s / (b as f64 * 1000.0) * 100.0),
            (Some(s), None) => format!("{s:.0}"),
            _ => "-".into(),
        };
        println!(
            "| {} | {:.0} {}/s | {} / {} / {} | {} | {} / {} | {} | {} | {} |",
            row.name,
            row.rate,
            row.unit,
            opt(row.ack_p50_ms, 2),
            opt(row.ack_p99_ms, 2),
            opt(row.ack_p999_ms, 2),
            row.errors,
            opt(row.e2e_p50_ms, 0),
            opt(row.e2e_p99_ms, 0),
            opt(row.peak_rss_mb, 0),
            stored,
            row.of_ceiling
                .map_or("-".into(), |c| format!("{:.0} %", c * 100.0)),
        );
    }
    for row in &r.scenarios {
        if !row.note.is_empty() {
            println!("- {}: {}", row.name, row.note);
        }
    }
    if !r.pages.is_empty() {
        println!("\n| pages-at-1m request | warm p50 / p99 ms | cold p50 / p99 ms |");
        println!("|---|---|---|");
        for p in &r.pages {
            println!(
                "| {} | {:.2} / {:.2} | {:.2} / {:.2} |",
                p.request, p.warm_p50_ms, p.warm_p99_ms, p.cold_p50_ms, p.cold_p99_ms
            );
        }
    }
    for (name, what) in &r.failures {
        println!("FAILED {name}: {what}");
    }
}

pub fn write_json(path: &Path, r: &Results) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(r)?)?;
    Ok(())
}
