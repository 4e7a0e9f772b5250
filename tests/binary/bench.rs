//! The benchmark command, run for a second: it measures through the real server, writes its
//! JSON, and fails when deliveries are refused.

use std::process::Command;

use serde_json::Value;

fn bench(dir: &std::path::Path, extra: &[&str]) -> (std::process::ExitStatus, Value, String) {
    let json = dir.join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_provenant-bench"))
        .args(["--seconds", "1", "--warmup", "0", "--connections", "4"])
        .args(["--only", "ingest-small", "--json"])
        .arg(&json)
        .args(extra)
        .output()
        .expect("bench runs");
    let results = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, results, text)
}

#[test]
fn a_short_run_measures_the_real_server_and_writes_json() {
    let dir = tempfile::tempdir().expect("dir");
    let (status, results, text) = bench(dir.path(), &[]);
    assert!(status.success(), "{text}");
    let row = &results["scenarios"][0];
    assert_eq!(row["name"], "ingest-small", "{results}");
    assert!(row["rate"].as_f64().expect("rate") > 0.0, "{results}");
    assert_eq!(row["errors"], 0, "{results}");
    // Processed, and stored smaller than received.
    assert!(row["e2e_p50_ms"].as_f64().is_some(), "{results}");
    let stored = row["stored_bytes_per_1000"].as_f64().expect("stored");
    let body = row["body_bytes"].as_f64().expect("body");
    assert!(stored < body * 1000.0 * 0.4, "{results}");
    assert!(
        text.contains("| ingest-small |"),
        "the table is printed: {text}"
    );
}

#[test]
fn refused_deliveries_make_the_run_fail() {
    let dir = tempfile::tempdir().expect("dir");
    let (status, results, text) = bench(dir.path(), &["--sign-with", "not-the-secret"]);
    assert_eq!(status.code(), Some(1), "{text}");
    assert_eq!(results["failures"][0][0], "ingest-small", "{results}");
    assert!(text.contains("401"), "the first error is shown: {text}");
}
