//! `GET /metrics`: Prometheus text behind the API token, whose counters follow what happens.

use serde_json::json;

use crate::fake::FakeRemote;
use crate::helpers::*;

fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn metrics_need_the_token_and_count_deliveries_processing_and_remote_calls() {
    let app = TestApp::spawn();
    app.request("GET", "/metrics", None, &[], None).problem(401);
    app.request("GET", "/metrics", Some("wrong-token-0123456789"), &[], None)
        .problem(401);

    let slack = FakeRemote::start();
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/m", slack.url)}),
    );
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let gh = app.create_integration_id(
        "GITHUB",
        json!({"repo": "a/b", "webhook_secret": "s3cret-s3cret"}),
    );
    for i in 0..2 {
        app.deliver_accepted(
            &hook,
            &[("content-type", "application/json")],
            json!({"type": "drift.critical", "n": i})
                .to_string()
                .as_bytes(),
        );
    }
    app.deliver(
        &gh,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
            ("x-hub-signature-256", "sha256=00"),
        ],
        b"{}",
    )
    .problem(401);
    app.deliver("1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e", &[], b"{}")
        .problem(404);
    app.wait_until_idle();

    let reply = app.request("GET", "/metrics", Some(TOKEN), &[], None);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = reply.text;
    let expect = |series: &str, value: f64| {
        assert_eq!(value_of(&text, series), Some(value), "{series} in\n{text}");
    };
    expect(
        r#"provenant_deliveries_total{type="WEBHOOK",result="accepted"}"#,
        2.0,
    );
    expect(
        r#"provenant_deliveries_total{type="GITHUB",result="rejected_signature"}"#,
        1.0,
    );
    expect(
        r#"provenant_deliveries_total{type="unknown",result="not_found"}"#,
        1.0,
    );
    expect(r#"provenant_processing_total{result="processed"}"#, 2.0);
    expect(
        r#"provenant_outbound_calls_total{remote="slack",result="accepted"}"#,
        2.0,
    );
    expect(r#"provenant_events{status="PROCESSED"}"#, 2.0);
    expect(r#"provenant_outbox_rows{status="PENDING"}"#, 0.0);
    expect("provenant_ack_seconds_count", 4.0);
    expect("provenant_processing_latency_seconds_count", 2.0);
    // This node, alone on its database, holds the cluster's duties and names itself.
    expect("provenant_cluster_nodes_alive", 1.0);
    expect("provenant_node_holds_duties", 1.0);
    let node = text
        .lines()
        .find(|l| l.starts_with("provenant_node_info{"))
        .unwrap_or_else(|| panic!("no node_info in\n{text}"));
    assert!(node.contains("node=\"") && node.ends_with(" 1"), "{node}");
    assert!(
        value_of(&text, r#"provenant_database_bytes{file="database"}"#).is_some_and(|b| b > 0.0)
    );
    assert!(!text.contains("s3cret"), "no secret in metrics");
}
