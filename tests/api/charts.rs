//! The charts in a real browser: a scripted mix of deliveries over two hours (by the clock
//! seam) shows as a sparkline on the list and as bars whose text carries those counts; a click
//! on a failed segment narrows Recent Events to that hour; all of it under the pages' CSP.

use std::sync::Arc;
use std::time::Duration;

use provenant::base::clock::Clock;
use provenant::pipeline::worker::Processors;
use serde_json::json;

use crate::browser::{Browser, run};
use crate::helpers::*;

const HOUR_MS: i64 = 3_600_000;

#[test]
fn the_charts_carry_the_scripted_counts_and_a_failed_segment_filters_recent_events() {
    let clock = Clock::system();
    // The hour before this one, then this one: the last two bars of the 24-hour chart.
    let earlier = (now_ms() / HOUR_MS - 1) * HOUR_MS;
    clock.pin(earlier + 10 * 60_000);
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Processors {
            webhook: Arc::new(FailsWhenAsked),
            ..Processors::default()
        },
    );
    let hook = app.create_integration_id("WEBHOOK", json!({"secret": "whsec_c3RhdHMtdGVzdA=="}));
    let quiet = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    // Signed as a Standard Webhooks sender signs, at the pinned clock's time.
    let send = |id: &str, fail: bool| {
        let body = json!({"fail": fail}).to_string();
        let at = clock.now_ms() / 1000;
        let signature = standard_webhooks_signature(b"stats-test", id, at, body.as_bytes());
        let at = at.to_string();
        app.deliver(
            &hook,
            &[
                ("content-type", "application/json"),
                ("webhook-id", id),
                ("webhook-timestamp", &at),
                ("webhook-signature", &signature),
            ],
            body.as_bytes(),
        )
    };
    let deliver = |id: &str, fail: bool| {
        let reply = send(id, fail);
        assert_eq!(reply.status, 202, "{}", reply.text);
        reply.json()["eventId"]
            .as_str()
            .expect("eventId")
            .to_string()
    };
    // The earlier hour: 2 processed, 1 failed, 1 repeated delivery id, 1 unsigned.
    deliver("a1", false);
    deliver("a2", false);
    let failed_earlier = deliver("a3", true);
    assert_eq!(send("a1", false).json()["duplicate"], true);
    let unsigned = app.deliver(&hook, &[("content-type", "application/json")], b"{}");
    assert_eq!(unsigned.status, 401, "{}", unsigned.text);
    app.wait_until_idle();
    // This hour: 1 processed, 2 failed.
    clock.advance(Duration::from_secs(3600));
    deliver("b1", false);
    let failed_now = [deliver("b2", true), deliver("b3", true)];
    app.wait_until_idle();

    run(async {
        let Some(b) = Browser::start("charts").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        // The list: a sparkline per integration, its text saying what the day held.
        b.wait_until(
            "two sparklines",
            "return document.querySelectorAll('#integrations svg.sparkline').length === 2",
        )
        .await;
        let label = |css: String| {
            let b = &b;
            async move {
                b.find(&css)
                    .await
                    .attr("aria-label")
                    .await
                    .expect("attribute")
                    .unwrap_or_default()
            }
        };
        let busy = label(format!("dd.last-day[data-id=\"{hook}\"] svg.sparkline")).await;
        assert!(
            busy.contains("6 received, 3 processed, 3 failed (50 %), 1 rejected"),
            "{busy}"
        );
        let idle = label(format!("dd.last-day[data-id=\"{quiet}\"] svg.sparkline")).await;
        assert!(idle.contains("0 received"), "{idle}");
        b.screenshot("40-integrations-sparklines").await;

        b.goto(&app.url(&format!("/integrations/{hook}"))).await;
        b.wait_until(
            "24 bars",
            "return document.querySelectorAll('#deliveries-chart g.bar').length === 24",
        )
        .await;
        let bars: Vec<String> = b
            .client
            .execute(
                "return [...document.querySelectorAll('#deliveries-chart g.bar')].map(g => g.getAttribute('aria-label'))",
                vec![],
            )
            .await
            .expect("labels")
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            bars[22].ends_with(": 2 processed, 1 failed, 1 rejected, 1 duplicate"),
            "{bars:?}"
        );
        assert!(bars[23].ends_with(": 1 processed, 2 failed"), "{bars:?}");
        assert!(
            bars[..22].iter().all(|l| l.ends_with(": nothing")),
            "{bars:?}"
        );
        // The same numbers as a table, one click away.
        b.find("#deliveries-chart .chart-toggle")
            .await
            .click()
            .await
            .expect("table view");
        let rows = b.text_of("#deliveries-chart-table tbody").await;
        assert!(
            rows.contains("2 1 1 1") && rows.contains("1 2 0 0"),
            "{rows}"
        );
        b.find("#deliveries-chart .chart-toggle")
            .await
            .click()
            .await
            .expect("chart view");
        b.screenshot("41-integration-chart").await;

        // A click on the earlier hour's failed segment: only that hour's failed event stays.
        b.wait_for(&format!("tr.event-row[data-id=\"{}\"]", failed_now[0]))
            .await;
        b.find("#deliveries-chart g.bar:nth-of-type(23) rect.segment.failed")
            .await
            .click()
            .await
            .expect("failed segment");
        b.wait_until(
            "the events of that hour",
            "return document.querySelectorAll('#events-body tr.event-row').length === 1",
        )
        .await;
        assert_eq!(
            b.count(&format!("tr.event-row[data-id=\"{failed_earlier}\"]"))
                .await,
            1
        );
        assert!(b.text_of("#ended-filter").await.contains("Failed in"));
        b.find("#clear-ended-filter")
            .await
            .click()
            .await
            .expect("clear filter");
        b.wait_until(
            "every event again",
            "return document.querySelectorAll('#events-body tr.event-row').length === 6",
        )
        .await;

        // Under the CSP as it is: switching to 30 days redraws with no violation, and nothing
        // in the chart carries an inline style.
        b.client
            .execute(
                "window.violations = []; document.addEventListener('securitypolicyviolation', e => window.violations.push(e.violatedDirective)); return true",
                vec![],
            )
            .await
            .expect("listen");
        b.find("#stats button[data-bucket=\"day\"]")
            .await
            .click()
            .await
            .expect("30 days");
        b.wait_until(
            "30 bars",
            "return document.querySelectorAll('#deliveries-chart g.bar').length === 30",
        )
        .await;
        let checked = b
            .client
            .execute(
                "return { violations: window.violations, styled: document.querySelectorAll('#stats [style]').length }",
                vec![],
            )
            .await
            .expect("checks");
        assert_eq!(checked, json!({"violations": [], "styled": 0}));
        b.close().await;
    });
    let page = app.get(&format!("/integrations/{hook}"));
    assert_eq!(
        page.header("content-security-policy"),
        Some(provenant::http::ui::CONTENT_SECURITY_POLICY)
    );
}
