//! The few lines the server says to whoever started it, outside the log filter (where it
//! listens, the API token it generated): plain lines, or with `--log-format json` one JSON
//! object per line in the log's own shape, so that a log shipper reads every line.

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Called once at start with `--log-format`.
pub fn use_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Writes `message` to stderr.
pub fn say(message: &str) {
    write("INFO", message);
}

/// Writes why the server stops to stderr.
pub fn fatal(message: &str) {
    write("ERROR", message);
}

fn write(level: &str, message: &str) {
    if JSON.load(Ordering::Relaxed) {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let line = serde_json::json!({
            "timestamp": now,
            "level": level,
            "message": message,
            "target": "provenant",
        });
        eprintln!("{line}");
    } else {
        eprintln!("{message}");
    }
}
