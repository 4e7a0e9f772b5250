//! The browser pages, in headless Chromium, against the real server. Each test leaves a
//! screenshot in `target/ui-screenshots/`.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use crate::browser::{Browser, run};
use crate::helpers::*;

const GH_SECRET: &str = "ui-test-webhook-secret";

#[test]
fn signing_in_and_creating_one_integration_of_each_type_through_the_form() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("create_each_type").await else {
            return;
        };
        // The first visit asks for the token.
        b.goto(&app.url("/")).await;
        b.wait_for("#signin-form").await;
        assert_eq!(b.path().await, "/signin");
        b.screenshot("01-sign-in").await;
        b.find("#token")
            .await
            .send_keys("not-the-token-0000000")
            .await
            .expect("type");
        b.find("#signin-form button[type=submit]")
            .await
            .click()
            .await
            .expect("click");
        let error = b.wait_for("#signin-error:not([hidden])").await;
        assert_eq!(
            error.text().await.expect("text"),
            "That token was not accepted."
        );
        b.find("#token").await.clear().await.expect("clear");
        b.find("#token").await.send_keys(TOKEN).await.expect("type");
        b.find("#signin-form button[type=submit]")
            .await
            .click()
            .await
            .expect("click");

        // Empty state, then "New Integration" from the seed page.
        let empty = b.wait_for("#empty-state").await;
        assert!(
            empty
                .text()
                .await
                .expect("text")
                .contains("An integration connects Provenant")
        );
        b.screenshot("02-empty-state").await;

        for (kind, name) in [
            ("GITHUB", "Main GitHub Repo"),
            ("GITLAB", "GitLab project"),
            ("SLACK", "Alerts channel"),
            ("WEBHOOK", "Production monitor"),
        ] {
            b.goto(&app.url("/")).await;
            b.wait_for("#new-integration")
                .await
                .click()
                .await
                .expect("new");
            b.wait_for("#new-integration-form").await;
            b.find("#type")
                .await
                .select_by_value(kind)
                .await
                .expect("select type");
            b.find("#name").await.send_keys(name).await.expect("name");
            // The config starts empty (examples are placeholders, never values), is filled
            // through the type's fields, and is checked as it changes.
            let config = b.find("#config").await.prop("value").await.expect("value");
            assert_eq!(config.as_deref(), Some("{}"));
            let (field, value) = match kind {
                "GITHUB" => ("#field-repo", "my-org/my-agent-repo"),
                "GITLAB" => ("#field-project_id", "12345"),
                "SLACK" => (
                    "#field-webhook_url",
                    "https://hooks.slack.com/services/T1/B1/realvalue",
                ),
                _ => ("#field-description", "Production monitoring webhook"),
            };
            b.find(field).await.send_keys(value).await.expect("field");
            if kind == "GITHUB" || kind == "GITLAB" {
                b.find("#generate-webhook_secret")
                    .await
                    .click()
                    .await
                    .expect("generate");
            }
            let status = b.text_of("#config-status").await;
            assert_eq!(status, "Valid JSON.");
            b.find("#create").await.click().await.expect("create");
            b.wait_for("#setup-steps").await;
            assert!(b.path().await.starts_with("/integrations/"));
            let heading = b.text_of("#summary h1").await;
            assert_eq!(heading, name);
            let steps = b.text_of("#setup-steps").await;
            if kind == "GITHUB" {
                assert!(
                    steps.contains("Payload URL")
                        && steps.contains("application/json")
                        && steps.contains("Push and Pull requests"),
                    "{steps}"
                );
                b.screenshot("03-github-created-setup-steps").await;
            }
        }

        // The list: four cards, tokens masked exactly as the API masks them.
        b.goto(&app.url("/")).await;
        b.wait_for("article.integration").await;
        assert_eq!(b.count("article.integration").await, 4);
        let list = b
            .client
            .execute(
                "return document.getElementById('integrations').textContent",
                vec![],
            )
            .await
            .expect("text");
        let list = list.as_str().expect("string").to_string();
        // The generated secrets are masked; no example value was stored.
        assert!(list.contains("\"webhook_secret\": \"***\""), "{list}");
        assert!(!list.contains("choose-a-long-random-string"), "{list}");
        for mark in ["GitHub", "GitLab", "Slack", "Webhook"] {
            assert!(list.contains(mark));
        }
        b.find("article.integration details summary")
            .await
            .click()
            .await
            .expect("open config");
        b.screenshot("04-integrations-list").await;

        // Readable on a phone: no sideways scrolling at 360 px.
        b.client.set_window_size(360, 800).await.expect("resize");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = b
            .client
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .expect("width");
        assert!(
            overflow.as_u64().expect("n") <= 360,
            "page is {overflow} px wide at 360"
        );
        b.screenshot("05-integrations-list-360px").await;
        b.close().await;
    });
    assert_eq!(app.integration_count(), 4);
}

#[test]
fn a_server_validation_error_is_shown_at_its_field() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("validation").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/integrations/new")).await;
        b.wait_for("#new-integration-form").await;

        // Invalid JSON is caught while typing.
        let config = b.find("#config").await;
        config.clear().await.expect("clear");
        config.send_keys("{\"repo\": ").await.expect("type");
        let status = b.text_of("#config-status").await;
        assert!(status.starts_with("Not valid JSON"), "{status}");
        assert_eq!(
            b.find("#create")
                .await
                .prop("disabled")
                .await
                .expect("prop")
                .as_deref(),
            Some("true")
        );

        // Valid JSON the server refuses: the message sits at the field it names.
        config
            .send_keys("\"not-owner-slash-name\"}")
            .await
            .expect("type");
        b.find("#name")
            .await
            .send_keys("Bad repo")
            .await
            .expect("name");
        b.find("#create").await.click().await.expect("create");
        // The config's `repo` has a field of its own: the message sits there.
        let error = b.wait_for("#field-repo-error:not([hidden])").await;
        let text = error.text().await.expect("text");
        assert!(
            text.contains("config.repo") && text.contains("owner/name"),
            "{text}"
        );
        assert_eq!(
            b.find("#field-repo")
                .await
                .attr("aria-invalid")
                .await
                .expect("attr")
                .as_deref(),
            Some("true")
        );
        b.screenshot("06-validation-error-at-field").await;

        // An empty name is reported at the name field.
        b.goto(&app.url("/integrations/new")).await;
        b.wait_for("#new-integration-form").await;
        b.find("#create").await.click().await.expect("create");
        let error = b.wait_for("#name-error:not([hidden])").await;
        assert!(
            error
                .text()
                .await
                .expect("text")
                .contains("not only blanks")
        );
        b.close().await;
    });
    assert_eq!(app.integration_count(), 0);
}

#[test]
fn deactivating_makes_the_receiver_answer_404_and_the_page_says_so() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"description": "monitor"}));
    let deliver = || {
        app.deliver(
            &id,
            &[("content-type", "application/json")],
            br#"{"type":"drift.critical"}"#,
        )
        .status
    };
    assert_eq!(deliver(), 202);
    run(async {
        let Some(b) = Browser::start("deactivate").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        let toggle = b.wait_for("#toggle-active").await;
        assert_eq!(toggle.text().await.expect("text"), "Deactivate");
        toggle.click().await.expect("deactivate");
        let note = b.wait_for("#inactive-note").await;
        assert!(note.text().await.expect("text").contains("answers 404"));
        b.screenshot("07-deactivated").await;
        assert_eq!(deliver(), 404);
        b.find("#toggle-active")
            .await
            .click()
            .await
            .expect("activate");
        b.wait_until(
            "reactivation",
            "return document.getElementById('inactive-note') === null",
        )
        .await;
        assert_eq!(deliver(), 202);

        // Delete asks first, naming the integration.
        b.find("#delete").await.click().await.expect("delete");
        let dialog = b.wait_for("#confirm-delete").await;
        assert!(
            dialog
                .text()
                .await
                .expect("text")
                .contains("\u{201c}Test WEBHOOK\u{201d}")
        );
        b.screenshot("11-delete-confirmation").await;
        b.find("#cancel-delete")
            .await
            .click()
            .await
            .expect("cancel");
        b.wait_until(
            "the dialog to close",
            "return document.getElementById('confirm-delete') === null",
        )
        .await;
        b.find("#delete").await.click().await.expect("delete");
        b.wait_for("#confirm-delete-button")
            .await
            .click()
            .await
            .expect("confirm");
        b.wait_for("#empty-state").await;
        b.close().await;
    });
    assert_eq!(app.get(&format!("/api/integrations/{id}")).status, 404);
}

#[test]
fn a_signed_github_delivery_shows_up_in_recent_events_and_turns_processed_without_reloading() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo-org/agent-repo", "webhook_secret": GH_SECRET}),
    );
    run(async {
        let Some(b) = Browser::start("recent_events").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("#no-events:not([hidden])").await;
        // Marks this page instance: a reload would lose it.
        b.client
            .execute("window.__sameDocument = true; return true", vec![])
            .await
            .expect("mark");

        let body = br#"{"zen":"Hello from the test","hook_id":1}"#;
        let signature = github_signature(GH_SECRET, body);
        let reply = app.deliver(
            &id,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "ping"),
                ("x-github-delivery", "ui-delivery-1"),
                ("x-hub-signature-256", &signature),
            ],
            body,
        );
        assert_eq!(reply.status, 202, "{}", reply.text);
        let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
        let row = format!("tr.event-row[data-id=\"{event_id}\"]");
        b.wait_for(&row).await;
        b.wait_until(
            "PROCESSED",
            &format!("const r = document.querySelector('{}'); return !!r && r.dataset.status === 'PROCESSED'", row.replace('\'', "\\'")),
        )
        .await;
        let same = b
            .client
            .execute("return window.__sameDocument === true", vec![])
            .await
            .expect("marker");
        assert_eq!(same, json!(true), "the page reloaded");
        let text = b.text_of(&row).await;
        assert!(
            text.contains("PROCESSED")
                && text.contains("ping")
                && text.contains("ui-delivery-1")
                && text.contains("pong"),
            "{text}"
        );

        // A row opens the headers and the pretty-printed payload.
        b.find(&row).await.click().await.expect("open row");
        let detail = b
            .wait_for(&format!(
                "tr.detail-row[data-detail-for=\"{event_id}\"] pre"
            ))
            .await;
        let payload = detail.text().await.expect("payload");
        assert!(
            payload.contains("\"zen\": \"Hello from the test\""),
            "{payload}"
        );
        let headers = b
            .text_of(&format!(
                "tr.detail-row[data-detail-for=\"{event_id}\"] table.headers"
            ))
            .await;
        assert!(
            headers.contains("x-github-event") && headers.contains("***"),
            "{headers}"
        );
        assert!(
            !headers.contains(&signature[7..]),
            "the signature is masked"
        );
        // And the decision trace, from the receiver's check to the outcome.
        let trace = b
            .text_of(&format!(
                "tr.detail-row[data-detail-for=\"{event_id}\"] ol.trace"
            ))
            .await;
        assert!(
            trace.contains("verified: X-Hub-Signature-256 (HMAC-SHA256) with the current secret")
                && trace.contains("attempt 1: processed: pong"),
            "{trace}"
        );

        // The open row survives the next refreshes.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            b.count(&format!("tr.detail-row[data-detail-for=\"{event_id}\"]"))
                .await,
            1
        );
        b.screenshot("08-recent-events-processed-with-payload")
            .await;
        b.close().await;
    });
}

#[test]
fn html_in_a_name_renders_as_text() {
    let app = TestApp::spawn();
    let evil = "<img src=x onerror=alert(1)>";
    let id = app.post_json("/api/integrations", &json!({"type": "WEBHOOK", "name": evil, "config": {"note": "<script>alert(2)</script>"}}))
        .json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    run(async {
        let Some(b) = Browser::start("html_name").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        let link = b.wait_for("a.integration-name").await;
        assert_eq!(link.text().await.expect("text"), evil);
        let injected = b
            .client
            .execute(
                "return document.querySelectorAll('img[src=\"x\"], main script').length",
                vec![],
            )
            .await
            .expect("count");
        assert_eq!(injected, json!(0));
        b.screenshot("09-html-name-as-text").await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        let heading = b.wait_for("#summary h1").await;
        assert_eq!(heading.text().await.expect("text"), evil);
        let injected = b
            .client
            .execute(
                "return document.querySelectorAll('img[src=\"x\"]').length",
                vec![],
            )
            .await
            .expect("count");
        assert_eq!(injected, json!(0));
        b.close().await;
    });
}

#[test]
fn a_rejected_token_returns_to_sign_in() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("expired_token").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.client
            .execute(
                "sessionStorage.setItem('provenant.apiToken', 'rotated-away-000000'); return true",
                vec![],
            )
            .await
            .expect("script");
        b.goto(&app.url("/secrets")).await;
        b.wait_for("#signin-form").await;
        assert_eq!(b.path().await, "/signin");
        assert!(b.text_of(".notice").await.contains("not accepted"));
        // Signing in again returns to the page that was asked for.
        b.find("#token").await.send_keys(TOKEN).await.expect("type");
        b.find("#signin-form button[type=submit]")
            .await
            .click()
            .await
            .expect("submit");
        b.wait_for("#secret-form").await;
        assert_eq!(b.path().await, "/secrets");
        b.close().await;
    });
}

#[test]
fn secrets_can_be_added_and_one_in_use_is_not_deleted() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("secrets").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/secrets")).await;
        b.wait_for("#no-secrets").await;
        assert_eq!(
            b.find("#secret-value")
                .await
                .attr("type")
                .await
                .expect("attr")
                .as_deref(),
            Some("password")
        );
        b.find("#secret-name")
            .await
            .send_keys("GITHUB_TOKEN")
            .await
            .expect("name");
        b.find("#secret-value")
            .await
            .send_keys("ghp_browser_secret_value")
            .await
            .expect("value");
        b.find("#save-secret").await.click().await.expect("save");
        b.wait_for("tr[data-name=\"GITHUB_TOKEN\"]").await;
        let page = b.client.source().await.expect("source");
        assert!(
            !page.contains("ghp_browser_secret_value"),
            "the value is never shown again"
        );
        b.close().await;
    });
    // Used by an integration: the page explains the 409.
    app.create_integration(
        "GITHUB",
        json!({"repo": "a/b", "token": "${secret:GITHUB_TOKEN}"}),
    );
    run(async {
        let Some(b) = Browser::start("secrets_in_use").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/secrets")).await;
        let row = b.wait_for("tr[data-name=\"GITHUB_TOKEN\"]").await;
        let row_text = row.text().await.expect("text");
        assert!(row_text.contains("Test GITHUB"), "{row_text}");
        row.find(Locator::Css("button"))
            .await
            .expect("delete button")
            .click()
            .await
            .expect("delete");
        let message = b.wait_for("#secrets-message .error").await;
        assert!(message.text().await.expect("text").contains("still in use"));
        b.screenshot("10-secret-in-use").await;
        b.close().await;
    });
}

#[test]
fn editing_the_name_keeps_a_masked_secret() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo-org/agent-repo", "token": "ghp_kept_through_the_ui"}),
    );
    run(async {
        let Some(b) = Browser::start("edit").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("#edit-details summary")
            .await
            .click()
            .await
            .expect("open editor");
        let config = b
            .find("#edit-config")
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default();
        assert!(config.contains("\"token\": \"***\""), "{config}");
        let name = b.find("#edit-name").await;
        name.clear().await.expect("clear");
        name.send_keys("Renamed in the browser")
            .await
            .expect("type");
        b.find("#save").await.click().await.expect("save");
        b.wait_for("#edit-saved:not([hidden])").await;
        assert_eq!(b.text_of("#summary h1").await, "Renamed in the browser");
        b.close().await;
    });
    let stored = app.stored_config(&id);
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(
        app.open_stored(&id, "config.token", &stored["token"]),
        "ghp_kept_through_the_ui"
    );
}

#[test]
fn a_failed_event_can_be_retried_from_the_page_and_the_status_filter_narrows_the_list() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", json!({"repo": crate::fixtures::REPO}));
    // A pull request without its head commit cannot become an eval run: it fails for good.
    let mut payload = crate::fixtures::github_pr("opened", 3, "main", &"3".repeat(40), false, None);
    payload["pull_request"]["head"]
        .as_object_mut()
        .expect("head")
        .remove("sha");
    let failed_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-github-delivery", "will-fail"),
        ],
        payload.to_string().as_bytes(),
    );
    app.wait_for_status(&id, &failed_id, &["FAILED"]);
    let ping_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "ping"),
        ],
        b"{}",
    );
    app.wait_for_status(&id, &ping_id, &["PROCESSED"]);
    run(async {
        let Some(b) = Browser::start("retry_and_filter").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        let failed_row = format!("tr.event-row[data-id=\"{failed_id}\"]");
        let ping_row = format!("tr.event-row[data-id=\"{ping_id}\"]");
        b.wait_for(&failed_row).await;
        b.wait_for(&ping_row).await;
        let text = b.text_of(&failed_row).await;
        assert!(
            text.contains("FAILED") && text.contains("head.sha"),
            "{text}"
        );

        // The filter keeps only FAILED events.
        b.find("#status-filter")
            .await
            .select_by_value("FAILED")
            .await
            .expect("filter");
        b.wait_until(
            "the filter",
            &format!(
                "return document.querySelector('{}') === null",
                ping_row.replace('\'', "\\'")
            ),
        )
        .await;
        assert_eq!(b.count(&failed_row).await, 1);

        // Retry runs it again (and it fails again: the payload has not changed).
        b.find(&format!("{failed_row} button.retry"))
            .await
            .click()
            .await
            .expect("retry");
        b.wait_until(
            "the second attempt",
            &format!(
                "const r = document.querySelector('{}'); return !!r && r.dataset.attempts === '2'",
                failed_row.replace('\'', "\\'")
            ),
        )
        .await;
        b.screenshot("12-failed-event-retried-filtered").await;
        b.close().await;
    });
    if crate::browser::available() {
        assert_eq!(app.event(&id, &failed_id)["attempts"], 2);
    }
}

#[test]
fn eval_runs_deployments_and_notifications_have_their_pages() {
    let app = TestApp::spawn();
    let slack = crate::fake::FakeRemote::start();
    app.create_integration(
        "SLACK",
        json!({"webhook_url": format!("{}/hook", slack.url)}),
    );
    let gh = app.create_integration_id(
        "GITHUB",
        json!({"repo": crate::fixtures::REPO, "allow_unverified": true}),
    );
    let send = |event: &str, payload: serde_json::Value| {
        let reply = app.deliver(
            &gh,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
            ],
            payload.to_string().as_bytes(),
        );
        let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
        app.wait_for_status(&gh, &event_id, &["PROCESSED"]);
    };
    send(
        "pull_request",
        crate::fixtures::github_pr("opened", 12, "main", &"c".repeat(40), false, None),
    );
    send(
        "push",
        crate::fixtures::github_push("refs/heads/main", &"d".repeat(40)),
    );
    slack.wait_for(2);
    run(async {
        let Some(b) = Browser::start("records").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        for (path, expected, shot) in [
            ("/eval-runs", "#12", "13-eval-runs"),
            ("/deployments", "dddddddddddd", "14-deployments"),
            ("/notifications", "promotion.started", "15-notifications"),
        ] {
            b.goto(&app.url(path)).await;
            let row = b.wait_for("#records tbody tr").await;
            let text = b.text_of("#records").await;
            assert!(text.contains(expected), "{path}: {text}");
            assert_eq!(
                b.find("nav a[aria-current=page]")
                    .await
                    .attr("href")
                    .await
                    .expect("attr")
                    .as_deref(),
                Some(path)
            );
            if path != "/notifications" {
                // Back to the event that created it.
                let link = row
                    .find(Locator::Css("a[href*='?event=']"))
                    .await
                    .expect("source link");
                assert!(
                    link.attr("href")
                        .await
                        .expect("href")
                        .unwrap_or_default()
                        .contains(&gh)
                );
            }
            b.screenshot(shot).await;
        }
        b.close().await;
    });
}

#[test]
fn every_eval_run_is_reachable_with_load_more_and_links_to_its_pr_commit_and_old_event() {
    let app = TestApp::spawn();
    let gh = app.create_integration_id("GITHUB", json!({"repo": crate::fixtures::REPO}));
    let runs = 105;
    let mut event_ids = vec![];
    for number in 1..=runs {
        let payload = crate::fixtures::github_pr(
            "opened",
            number,
            "main",
            &format!("{number:040x}"),
            false,
            None,
        );
        event_ids.push(app.deliver_accepted(
            &gh,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "pull_request"),
            ],
            payload.to_string().as_bytes(),
        ));
    }
    let oldest = event_ids[0].clone();
    app.wait_for_status(&gh, event_ids.last().expect("last"), &["PROCESSED"]);
    app.wait_for_status(&gh, &oldest, &["PROCESSED"]);
    run(async {
        let Some(b) = Browser::start("load_more").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/eval-runs")).await;
        b.wait_for("#records tbody tr").await;
        assert_eq!(b.count("#records tbody tr").await, 100);
        b.find("#load-more").await.click().await.expect("load more");
        b.wait_until(
            "all rows",
            &format!("return document.querySelectorAll('#records tbody tr').length === {runs}"),
        )
        .await;
        b.wait_until(
            "the button to go",
            "return getComputedStyle(document.getElementById('load-more')).display === 'none'",
        )
        .await;
        // Runs created in the same millisecond may come in either order: find the first PR's
        // row wherever it is among the oldest.
        let pr = b
            .find("#records tbody tr a[href$='/pull/1']")
            .await
            .attr("href")
            .await
            .expect("attr");
        assert_eq!(
            pr.as_deref(),
            Some(format!("https://github.com/{}/pull/1", crate::fixtures::REPO).as_str())
        );
        let commit = b
            .find("#records tbody tr:has(a[href$='/pull/1']) a[href*='/commit/']")
            .await
            .attr("href")
            .await
            .expect("attr");
        assert!(commit.unwrap_or_default().ends_with(&format!("{:040x}", 1)));
        b.screenshot("16-eval-runs-load-more").await;

        // The oldest event is not among the latest 50, but its link still opens it.
        b.goto(&app.url(&format!("/integrations/{gh}?event={oldest}")))
            .await;
        b.wait_for("#linked-event:not([hidden]) .linked-row").await;
        let text = b.text_of("#linked-event").await;
        assert!(text.contains("pull_request.opened"), "{text}");
        b.wait_until(
            "the payload",
            "return document.querySelector('#linked-event .event-detail h3') !== null",
        )
        .await;
        assert_eq!(
            b.count(&format!("#events-body tr.event-row[data-id='{oldest}']"))
                .await,
            0
        );
        b.screenshot("17-linked-old-event").await;
        b.close().await;
    });
}

#[test]
fn the_outbox_page_shows_answers_and_destinations_and_retries_a_failed_row() {
    let app = TestApp::spawn();
    let github_api = crate::fake::FakeRemote::start();
    github_api.push(crate::fake::Canned::status(
        422,
        r#"{"message":"Validation Failed"}"#,
    ));
    github_api.set_default(crate::fake::Canned::status(201, "{}"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": crate::fixtures::REPO, "token": "ghp_outbox_page", "api_url": github_api.url, "allow_unverified": true}),
    );
    let payload = crate::fixtures::github_pr("opened", 4, "main", &"4".repeat(40), false, None);
    let event_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        payload.to_string().as_bytes(),
    );
    app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    app.wait_until_idle();
    run(async {
        let Some(b) = Browser::start("outbox").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/outbox")).await;
        let row = b.wait_for("#records tbody tr").await;
        let text = row.text().await.expect("text");
        assert!(
            text.contains("FAILED")
                && text.contains("COMMIT_STATUS")
                && text.contains("Validation Failed"),
            "{text}"
        );
        let destinations = b.text_of("#destinations").await;
        // Named by its integration and the remote's host; the key only in the tooltip.
        let host = github_api.url.trim_start_matches("http://").to_string();
        assert!(
            destinations.contains(&format!("Test GITHUB · {host}")),
            "{destinations}"
        );
        assert!(!destinations.contains("github:127.0.0.1"), "{destinations}");
        assert!(!destinations.contains("ghp_outbox_page"));
        let key = b
            .find("#destinations td.destination-name")
            .await
            .attr("title")
            .await
            .expect("title")
            .unwrap_or_default();
        assert!(key.starts_with(&format!("github:{host}:")), "{key}");
        // Its day: what was sent and failed, as a sparkline and as text, and its pauses.
        b.wait_until(
            "the destination's last 24 hours",
            "const c = document.querySelector('#destinations td.last-day'); return !!c && !!c.querySelector('svg.sparkline') && c.textContent.includes('0 sent · 1 failed')",
        )
        .await;
        assert_eq!(b.text_of("#destinations td.paused-day").await, "never");
        b.screenshot("18-outbox-failed-row").await;
        b.find("#records button.retry")
            .await
            .click()
            .await
            .expect("retry");
        b.wait_until(
            "the row to be queued again",
            "return !document.querySelector('#records button.retry') && document.querySelector('#records tbody tr').textContent.includes('PENDING')",
        )
        .await;
        b.close().await;
    });
    if crate::browser::available() {
        app.wait_until_idle();
        assert_eq!(github_api.requests().len(), 2);
        let page = app.get("/api/eval-runs").json();
        assert_eq!(page["items"][0]["lastPost"]["status"], "SENT");
    }
}

#[test]
fn warnings_rejected_deliveries_and_a_secret_rotation_are_shown_on_the_detail_page() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": "short"}),
    );
    let body = br#"{"ref":"refs/heads/main"}"#;
    app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
            (
                "x-hub-signature-256",
                &github_signature("wrong secret", body),
            ),
        ],
        body,
    )
    .problem(401);
    run(async {
        let Some(b) = Browser::start("rejections-and-rotation").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        let warnings = b.wait_for("#secret-warnings").await;
        assert!(
            warnings
                .text()
                .await
                .expect("text")
                .contains("shorter than 16 characters")
        );

        // The rejected delivery, in its tab, with the reason and the body's hash.
        b.find("#tab-rejections").await.click().await.expect("tab");
        b.wait_for("#rejections-body tr.rejection-row").await;
        let reason = b.text_of(".rejection-reason").await;
        assert!(
            reason.contains("X-Hub-Signature-256 does not match"),
            "{reason}"
        );
        assert!(b.text_of("#rejections-body").await.contains("sha256 "));
        let events_hidden = b
            .find("#recent-events")
            .await
            .attr("hidden")
            .await
            .expect("attr");
        assert!(
            events_hidden.is_some(),
            "the events panel is hidden while the rejections tab is open"
        );
        b.screenshot("20-rejected-deliveries").await;

        // Rotate: the new secret is shown once; the previous one's overlap is shown after.
        b.find("#rotate-secret")
            .await
            .click()
            .await
            .expect("rotate");
        b.wait_for("#rotate-dialog").await;
        b.find("#rotate-confirm")
            .await
            .click()
            .await
            .expect("confirm");
        let secret = b
            .wait_for("#new-secret")
            .await
            .text()
            .await
            .expect("secret");
        assert_eq!(secret.len(), 64, "{secret}");
        b.screenshot("21-secret-rotated").await;
        b.find("#rotate-close").await.click().await.expect("close");
        let previous = b
            .wait_for("#previous-secret")
            .await
            .text()
            .await
            .expect("text");
        assert!(
            previous.contains("not used since the rotation"),
            "{previous}"
        );
        assert!(previous.contains("accepted until in "), "{previous}");
        // The short secret is gone, and with it the warning.
        b.wait_until(
            "the warning to go",
            "return document.getElementById('secret-warnings') === null",
        )
        .await;
        b.close().await;
    });
}

#[test]
fn the_edit_form_previews_a_config_against_recent_deliveries_without_saving_it() {
    let app = TestApp::spawn();
    let slack = crate::fake::FakeRemote::start();
    app.create_integration(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/ui", slack.url), "events": ["violation.*"]}),
    );
    let monitor = app.create_integration_id(
        "WEBHOOK",
        json!({"events": ["drift.*"], "allow_unverified": true}),
    );
    let event_id = app.deliver_accepted(
        &monitor,
        &[("content-type", "application/json")],
        br#"{"type":"violation.high","message":"policy breached"}"#,
    );
    app.wait_for_status(&monitor, &event_id, &["PROCESSED"]);
    run(async {
        let Some(b) = Browser::start("dry-run-preview").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{monitor}"))).await;
        b.wait_for("#edit-details summary")
            .await
            .click()
            .await
            .expect("open editor");
        let config = b.find("#edit-config").await;
        config.clear().await.expect("clear");
        config
            .send_keys(r#"{"events": ["drift.*", "violation.high"], "allow_unverified": true}"#)
            .await
            .expect("type");
        b.find("#preview").await.click().await.expect("preview");
        let result = b.wait_for("#preview-results .preview-result").await;
        let text = result.text().await.expect("text");
        assert!(
            text.contains("violation.high") && text.contains("announced to 1 Slack integration(s)"),
            "{text}"
        );
        b.screenshot("22-config-preview").await;
        b.close().await;
    });
    app.wait_until_idle();
    assert!(slack.requests().is_empty(), "a preview sent something");
    assert_eq!(
        app.get(&format!("/api/integrations/{monitor}")).json()["config"]["events"],
        json!(["drift.*"])
    );
}

#[test]
fn a_github_integration_shows_missed_deliveries_recovered_and_checks_on_request() {
    let app = TestApp::spawn();
    let github = crate::fake::FakeRemote::start();
    github.set_default(crate::fake::Canned::status(200, "[]"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "token": "ghp_ui", "api_url": github.url, "hook_id": 7}),
    );
    run(async {
        let Some(b) = Browser::start("reconcile").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_until(
            "the reconcile summary",
            "return document.getElementById('reconcile-summary')?.textContent.includes('last check never')",
        )
        .await;
        b.find("#reconcile-now").await.click().await.expect("check");
        b.wait_until(
            "the check's result",
            "return document.getElementById('reconcile-summary')?.textContent.includes('0 missing, 0 asked for again now')",
        )
        .await;
        assert!(
            b.text_of("#reconcile-summary")
                .await
                .starts_with("0 (last check just now")
        );
        b.close().await;
    });
    assert!(
        github
            .requests()
            .iter()
            .any(|r| r.path == "/repos/octo/hello/hooks/7/deliveries?per_page=100")
    );
}

#[test]
fn signing_in_returns_only_to_paths_on_this_origin() {
    let app = TestApp::spawn();
    let elsewhere = crate::fake::FakeRemote::start();
    let other = elsewhere.url.trim_start_matches("http://").to_string();
    run(async {
        let Some(b) = Browser::start("signin-next").await else {
            return;
        };
        let attempts = [
            format!("/%5C{other}/phish"),
            format!("/%09/{other}/phish"),
            format!("/%5C%5C{other}/phish"),
            format!("//{other}/phish"),
            format!("%2F%2F{other}/phish"),
            format!("http://{other}/phish"),
            format!("/%0A/{other}/phish"),
            format!("/%E2%80%8B/{other}"),
            "javascript:alert(1)".to_string(),
        ];
        for next in attempts.iter().map(String::as_str).chain(["/secrets"]) {
            b.goto(&format!("{}/signin?next={next}", app.address)).await;
            let input = b.wait_for("#token").await;
            input.send_keys(TOKEN).await.expect("type token");
            b.find("#signin-form button[type=submit]")
                .await
                .click()
                .await
                .expect("submit");
            b.wait_until(
                "leaving the sign-in page",
                "return location.pathname !== '/signin' && document.readyState === 'complete'",
            )
            .await;
            let url = b.client.current_url().await.expect("url");
            assert_eq!(
                url.origin().ascii_serialization(),
                app.address,
                "next={next} led to {url}"
            );
            if next == "/secrets" {
                assert_eq!(url.path(), "/secrets", "a same-origin path is kept");
            }
        }
        b.close().await;
    });
    assert!(
        elsewhere.requests().is_empty(),
        "the browser went elsewhere"
    );
}

#[test]
fn a_crafted_event_link_cannot_point_the_page_at_another_api_path() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"description": "linked"}));
    run(async {
        let Some(b) = Browser::start("event-link").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        for crafted in [
            "..%2F..%2F..%2Fsecrets",
            "..",
            "%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecrets",
        ] {
            b.goto(&app.url(&format!("/integrations/{id}?event={crafted}")))
                .await;
            b.wait_for("#summary h1").await;
            // Once the page has asked for the linked event (wherever that request went), every
            // request it made is in the resource timeline.
            b.wait_until(
                "the linked event to be asked for",
                &format!(
                    "return performance.getEntriesByType('resource').some(e => {{ \
                       const p = new URL(e.name).pathname; \
                       return p.startsWith('/api/integrations/{id}/events/') || p.startsWith('/api/secrets'); }})"
                ),
            )
            .await;
            let fetched = b
                .client
                .execute(
                    "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)",
                    vec![],
                )
                .await
                .expect("resources");
            let paths: Vec<String> = serde_json::from_value(fetched).expect("paths");
            assert!(
                paths.iter().all(|p| !p.starts_with("/api/secrets")),
                "{crafted}: {paths:?}"
            );
            assert!(
                paths
                    .iter()
                    // Every page asks who is signed in (`/api/me`), to hide what they may
                    // not do, and for the open alerts' banner (`/api/alerts`).
                    .filter(|p| p.starts_with("/api/") && *p != "/api/me" && *p != "/api/alerts")
                    .all(|p| p.starts_with(&format!("/api/integrations/{id}"))),
                "{crafted}: {paths:?}"
            );
        }
        b.close().await;
    });
}

#[test]
fn the_api_explorer_works_under_its_content_security_policy() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("explorer").await else {
            return;
        };
        b.goto(&app.url("/api/docs")).await;
        b.wait_for(".swagger-ui .opblock").await;
        let operations = b.count(".swagger-ui .opblock").await;
        assert!(operations >= 29, "{operations} operations shown");
        b.screenshot("30-api-explorer").await;
        b.close().await;
    });
}

#[test]
fn an_integration_whose_unverified_deliveries_act_is_warned_about_in_red() {
    let app = TestApp::spawn();
    let open = app.create_integration_id(
        "WEBHOOK",
        json!({"description": "acts unsigned", "allow_unverified": true}),
    );
    let quiet = app.create_integration_id("WEBHOOK", json!({"description": "records only"}));
    let event = app.deliver_accepted(
        &open,
        &[("content-type", "application/json")],
        br#"{"type":"drift.critical"}"#,
    );
    app.wait_for_status(&open, &event, &["PROCESSED"]);
    run(async {
        let Some(b) = Browser::start("unverified-warning").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        // On the list: one red warning (the integration that acts), one plain (records only).
        b.wait_for("ul.warnings li").await;
        assert_eq!(b.count("ul.warnings li.notice.danger").await, 1);
        assert_eq!(b.count("ul.warnings li.notice:not(.danger)").await, 1);
        b.goto(&app.url(&format!("/integrations/{open}"))).await;
        let warning = b.wait_for("#secret-warnings li.danger").await;
        assert!(
            warning
                .text()
                .await
                .expect("text")
                .contains("allow_unverified is on")
        );
        let badge = b.wait_for("tr.event-row .badge.unverified").await;
        assert_eq!(badge.text().await.expect("text"), "Unverified");
        b.screenshot("31-unverified-warning").await;
        b.goto(&app.url(&format!("/integrations/{quiet}"))).await;
        b.wait_for("#secret-warnings li").await;
        assert_eq!(b.count("#secret-warnings li.danger").await, 0);
        b.close().await;
    });
}

#[test]
fn the_settings_page_shows_the_checklist_with_what_to_do() {
    let app = TestApp::spawn();
    let github = crate::fake::FakeRemote::start();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .expect("date");
    let answer = |body: serde_json::Value| {
        crate::fake::Canned::status(200, &body.to_string())
            .header("content-type", "application/json")
            .header("date", &date)
    };
    github.route("/", answer(json!({})));
    github.route(
        "/repos/octo/pages",
        answer(json!({"full_name": "octo/pages", "permissions": {"pull": true, "push": false}})),
    );
    github.route("/repos/octo/pages/hooks?per_page=100", answer(json!([])));
    app.create_integration(
        "GITHUB",
        json!({"repo": "octo/pages", "token": "ghp_settings_page_token_0123", "api_url": github.url}),
    );
    run(async {
        let Some(b) = Browser::start("settings").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/settings")).await;
        b.wait_for("#checkup .check").await;
        b.wait_until(
            "the checklist is done",
            "return document.querySelector('#checkup').getAttribute('aria-busy') === 'false'",
        )
        .await;
        let text = b.text_of("#checkup").await;
        assert!(text.contains("public URL"), "{text}");
        assert!(text.contains("reaches this installation"), "{text}");
        assert!(text.contains("has no push permission"), "{text}");
        assert!(
            text.contains("no webhook of the repository points at"),
            "{text}"
        );
        assert!(text.contains("→ give the token write access"), "{text}");
        assert!(b.count(".check.failed").await >= 2);
        assert!(b.count(".check.ok").await >= 3);
        let summary = b.text_of("#checkup-summary").await;
        assert!(summary.contains("problems found"), "{summary}");
        let page = b.client.source().await.expect("source");
        assert!(!page.contains("ghp_settings_page_token_0123"));
        b.screenshot("19-settings-checklist").await;
        b.close().await;
    });
}

#[test]
fn an_admin_makes_a_read_token_on_its_page_and_a_reader_sees_no_edit_buttons() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    run(async {
        let Some(b) = Browser::start("tokens_and_readers").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/tokens")).await;
        b.wait_for("#no-tokens").await;
        b.find("#token-name")
            .await
            .send_keys("dashboard")
            .await
            .expect("name");
        b.find("#scope-read").await.click().await.expect("scope");
        b.find("#make-token").await.click().await.expect("make");
        b.wait_for("#new-token-value").await;
        let value = b.text_of("#new-token-value").await;
        assert!(value.starts_with("prov_") && value.len() == 69, "{value}");
        b.wait_for("tr[data-name=dashboard]").await;
        assert_eq!(
            b.text_of("tr[data-name=dashboard] .token-scopes").await,
            "read"
        );
        b.screenshot("40-token-made").await;
        // Shown once: the page reloaded lists it without its value.
        b.goto(&app.url("/tokens")).await;
        b.wait_for("tr[data-name=dashboard]").await;
        let page = b
            .client
            .execute("return document.body.textContent", vec![])
            .await
            .expect("text");
        assert!(!page.as_str().expect("text").contains(&value));

        // The reader: pages without the buttons that would change anything.
        b.client
            .execute("sessionStorage.clear()", vec![])
            .await
            .expect("sign out");
        b.sign_in(&app.address, &value).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("body[data-may='read']").await;
        b.wait_for("#summary h1").await;
        assert_eq!(b.text_of("#signed-in-as").await, "dashboard");
        for button in ["#delete", "#send-test", "#rotate-secret", "#save"] {
            if let Ok(found) = b.client.find(Locator::Css(button)).await {
                assert!(
                    !found.is_displayed().await.expect("displayed"),
                    "{button} is shown to a reader"
                );
            }
        }
        b.goto(&app.url("/")).await;
        b.wait_for("article.integration").await;
        let new = b.find("#new-integration").await;
        assert!(!new.is_displayed().await.expect("displayed"));
        let tokens_link = b.find("nav li[data-needs=admin]").await;
        assert!(!tokens_link.is_displayed().await.expect("displayed"));
        b.screenshot("41-reader-sees-no-edit-buttons").await;
        // And the API refuses the reader's change anyway.
        let refused = b
            .client
            .execute_async(
                &format!(
                    "const done = arguments[0]; fetch('/api/integrations/{id}', {{method: 'DELETE', \
                     headers: {{Authorization: 'Bearer {value}'}}}}).then(r => done(r.status));"
                ),
                vec![],
            )
            .await
            .expect("fetch");
        assert_eq!(refused, json!(403));

        // The audit log, readable by the reader: who made the token.
        b.goto(&app.url("/audit")).await;
        b.wait_for("tr[data-action='token.created']").await;
        assert_eq!(
            b.text_of("tr[data-action='token.created'] .actor").await,
            "token:api-token#primary"
        );
        b.screenshot("42-audit-log").await;
        b.close().await;
    });
    assert_eq!(app.get(&format!("/api/integrations/{id}")).status, 200);
}
