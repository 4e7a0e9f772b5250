//! The new-integration form's fields, built from the spec's config schemas, in a real browser:
//! a GITHUB integration made with `${secret:…}` references without typing any JSON (one secret
//! picked from those stored, one stored on the spot), and a key of one's own typed in the JSON
//! view that survives the fields writing around it.

use serde_json::{Value, json};

use crate::browser::{Browser, run, run_returning};
use crate::fixtures::github_signature;
use crate::helpers::*;

async fn value_of(b: &Browser, css: &str) -> String {
    b.find(css)
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn replace_text(b: &Browser, css: &str, text: &str) {
    let input = b.find(css).await;
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

#[test]
fn the_form_creates_a_github_integration_with_secret_references_without_touching_the_json() {
    let app = TestApp::spawn();
    let stored = app.put_json(
        "/api/secrets/GH_HOOK",
        &json!({"value": "a-long-hook-secret"}),
    );
    assert!(stored.status / 100 == 2, "{}", stored.text);
    run(async {
        let Some(b) = Browser::start("config form").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/integrations/new?type=GITHUB")).await;
        b.wait_for("#field-repo").await;
        // The fields are the schema's: its descriptions are their hints, its examples their
        // placeholders (never their values).
        assert_eq!(value_of(&b, "#field-repo").await, "");
        let placeholder = b
            .find("#field-repo")
            .await
            .attr("placeholder")
            .await
            .expect("placeholder");
        assert_eq!(placeholder.as_deref(), Some("my-org/my-agent-repo"));
        let hint = b.text_of("#field-webhook_secret-hint").await;
        assert!(hint.contains("secret"), "{hint}");
        for key in [
            "token",
            "app_id",
            "private_key",
            "allow_unverified",
            "repos",
        ] {
            assert_eq!(
                b.count(&format!("#field-{key}")).await,
                1,
                "a field for {key}"
            );
        }
        // Stored secrets are offered as references.
        b.wait_until(
            "the stored secret to be offered",
            "return [...document.querySelectorAll('#secret-refs option')].some(o => o.value === '${secret:GH_HOOK}')",
        )
        .await;

        b.find("#name")
            .await
            .send_keys("From the form")
            .await
            .expect("name");
        // A repository the server refuses: its message sits at the field.
        replace_text(&b, "#field-repo", "not a repository").await;
        b.find("#create").await.click().await.expect("create");
        let error = b.wait_for("#field-repo-error:not([hidden])").await;
        assert!(error.text().await.expect("text").contains("config.repo"));

        replace_text(&b, "#field-repo", "octo/agent").await;
        replace_text(&b, "#field-webhook_secret", "${secret:GH_HOOK}").await;
        // The token is stored as a secret right here, and the field refers to it.
        b.find("#secret-token-new")
            .await
            .click()
            .await
            .expect("new secret");
        b.wait_for("#secret-token-panel:not([hidden])").await;
        b.find("#secret-token-name")
            .await
            .send_keys("GH_TOKEN")
            .await
            .expect("name");
        b.find("#secret-token-value")
            .await
            .send_keys("ghp_from_the_form")
            .await
            .expect("value");
        b.find("#secret-token-save")
            .await
            .click()
            .await
            .expect("store");
        b.wait_until(
            "the token field to refer to the new secret",
            "return document.getElementById('field-token').value === '${secret:GH_TOKEN}'",
        )
        .await;
        let json: Value =
            serde_json::from_str(&value_of(&b, "#config").await).expect("the JSON view parses");
        assert_eq!(json["repo"], "octo/agent");
        assert_eq!(json["token"], "${secret:GH_TOKEN}");
        b.screenshot("config-form-github").await;
        b.find("#create").await.click().await.expect("create");
        b.wait_for("#setup-steps").await;
        b.close().await;
    });
    if !crate::browser::available() {
        return;
    }
    let list = app.get("/api/integrations").json();
    let created = list
        .as_array()
        .or_else(|| list["items"].as_array())
        .and_then(|l| l.iter().find(|i| i["name"] == "From the form").cloned())
        .expect("created");
    let id = created["id"].as_str().expect("id");
    let config: Value = serde_json::from_str(&app.stored_config(id)).expect("config");
    assert_eq!(config["repo"], "octo/agent");
    assert_eq!(config["webhook_secret"], "${secret:GH_HOOK}");
    assert_eq!(config["token"], "${secret:GH_TOKEN}");
    let secrets = app.get("/api/secrets").text;
    assert!(
        secrets.contains("GH_TOKEN") && !secrets.contains("ghp_from_the_form"),
        "{secrets}"
    );
}

#[test]
fn a_key_of_ones_own_typed_in_the_json_survives_a_round_trip_through_the_form() {
    let app = TestApp::spawn();
    run(async {
        let Some(b) = Browser::start("config form own key").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/integrations/new?type=WEBHOOK")).await;
        b.wait_for("#field-description").await;
        b.find("#name")
            .await
            .send_keys("Own keys")
            .await
            .expect("name");
        replace_text(
            &b,
            "#config",
            r#"{"description": "monitor", "team_notes": {"owner": "ml-platform"}, "events": ["drift.*"]}"#,
        )
        .await;
        // The JSON fills the fields...
        assert_eq!(value_of(&b, "#field-description").await, "monitor");
        assert_eq!(value_of(&b, "#field-events").await, "drift.*");
        // ...and the fields write their own keys back, leaving the others be.
        b.find("#field-description")
            .await
            .send_keys(" for prod")
            .await
            .expect("type");
        b.find("#field-allow_unverified")
            .await
            .click()
            .await
            .expect("check");
        replace_text(&b, "#field-events", "drift.*, violation.high").await;
        let json: Value = serde_json::from_str(&value_of(&b, "#config").await).expect("JSON");
        assert_eq!(
            json,
            json!({
                "description": "monitor for prod",
                "team_notes": {"owner": "ml-platform"},
                "events": ["drift.*", "violation.high"],
                "allow_unverified": true
            })
        );
        b.find("#create").await.click().await.expect("create");
        b.wait_for("#setup-steps").await;
        b.close().await;
    });
    if !crate::browser::available() {
        return;
    }
    let list = app.get("/api/integrations").json();
    let created = list
        .as_array()
        .or_else(|| list["items"].as_array())
        .and_then(|l| l.iter().find(|i| i["name"] == "Own keys").cloned())
        .expect("created");
    let config: Value =
        serde_json::from_str(&app.stored_config(created["id"].as_str().expect("id")))
            .expect("config");
    assert_eq!(config["team_notes"], json!({"owner": "ml-platform"}));
    assert_eq!(config["description"], "monitor for prod");
    assert_eq!(config["allow_unverified"], true);
}

#[test]
fn the_edit_form_changes_one_key_and_keeps_masked_credentials_and_ones_own_keys() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/agent", "token": "ghp_kept_as_it_is", "team_notes": "ml"}),
    );
    run(async {
        let Some(b) = Browser::start("config form edit").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url(&format!("/integrations/{id}"))).await;
        b.wait_for("#edit-details summary")
            .await
            .click()
            .await
            .expect("open");
        b.wait_for("#edit-field-branch").await;
        // The credential shows masked in its field as in the JSON.
        assert_eq!(value_of(&b, "#edit-field-token").await, "***");
        replace_text(&b, "#edit-field-branch", "release").await;
        // A repository the server refuses: shown at the field, nothing saved.
        replace_text(&b, "#edit-field-repo", "nope").await;
        b.find("#save").await.click().await.expect("save");
        b.wait_for("#edit-field-repo-error:not([hidden])").await;
        replace_text(&b, "#edit-field-repo", "octo/agent").await;
        b.find("#save").await.click().await.expect("save");
        b.wait_for("#edit-saved:not([hidden])").await;
        b.close().await;
    });
    if !crate::browser::available() {
        return;
    }
    let config: Value = serde_json::from_str(&app.stored_config(&id)).expect("config");
    assert_eq!(config["branch"], "release");
    assert_eq!(config["repo"], "octo/agent");
    assert_eq!(config["team_notes"], "ml");
    assert_eq!(
        app.open_stored(&id, "config.token", &config["token"]),
        "ghp_kept_as_it_is"
    );
}

#[test]
fn a_github_integration_made_with_only_a_name_stores_no_example_and_generate_shows_a_secret_once() {
    let app = TestApp::spawn();
    let generated = run_returning(async {
        let b = Browser::start("no example values").await?;
        b.sign_in(&app.address, TOKEN).await;
        b.goto(&app.url("/integrations/new?type=GITHUB")).await;
        b.wait_for("#field-webhook_secret").await;
        // Nothing is filled in: the config starts empty.
        assert_eq!(value_of(&b, "#field-webhook_secret").await, "");
        assert_eq!(value_of(&b, "#field-repo").await, "");
        let json: Value = serde_json::from_str(&value_of(&b, "#config").await).expect("JSON");
        assert_eq!(json, json!({}));
        // Only a name: the server asks for a repository; nothing is stored.
        b.find("#name")
            .await
            .send_keys("Only a name")
            .await
            .expect("name");
        b.find("#create").await.click().await.expect("create");
        b.wait_for("#field-repo-error:not([hidden])").await;

        // Generate puts a random secret in the field and shows it once, with Copy.
        replace_text(&b, "#field-repo", "octo/agent").await;
        b.find("#generate-webhook_secret")
            .await
            .click()
            .await
            .expect("generate");
        b.wait_for("#generate-webhook_secret-shown:not([hidden])")
            .await;
        let shown = b.text_of("#generate-webhook_secret-value").await;
        assert_eq!(shown.len(), 64, "{shown}");
        assert!(shown.bytes().all(|c| c.is_ascii_hexdigit()), "{shown}");
        assert_eq!(value_of(&b, "#field-webhook_secret").await, shown);
        assert_eq!(
            b.count("#generate-webhook_secret-shown button").await,
            1,
            "a Copy button"
        );
        let json: Value = serde_json::from_str(&value_of(&b, "#config").await).expect("JSON");
        assert_eq!(json["webhook_secret"], shown.as_str());
        b.find("#create").await.click().await.expect("create");
        b.wait_for("#setup-steps").await;
        // Shown once: the integration's page does not show it again.
        let page = b.text_of("body").await;
        assert!(!page.contains(&shown), "the secret is shown again");
        b.close().await;
        Some(shown)
    });
    let Some(generated) = generated else {
        return;
    };
    let list = app.get("/api/integrations").json();
    let items = list
        .as_array()
        .or_else(|| list["items"].as_array())
        .cloned()
        .unwrap_or_default();
    // The name alone stored nothing: the one integration is the one made after Generate.
    assert_eq!(items.len(), 1, "{items:?}");
    let created = items
        .iter()
        .find(|i| i["config"]["repo"] == "octo/agent")
        .expect("created");
    let id = created["id"].as_str().expect("id");
    assert!(
        !app.database_contains("choose-a-long-random-string"),
        "an example value was stored"
    );
    // The generated secret is the one deliveries are checked against; the old example is not.
    let body = br#"{"zen": "Keep it logically awesome."}"#;
    let signed = |secret: &str| {
        app.deliver(
            id,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "ping"),
                ("x-hub-signature-256", &github_signature(secret, body)),
            ],
            body,
        )
    };
    assert_eq!(signed(&generated).status, 202);
    assert_eq!(signed("choose-a-long-random-string").status, 401);
}
