//! Single sign-on for the pages, against the OpenID Connect stand-in: who gets in with which
//! role, every way a sign-in is refused, sessions that end at once, CSRF, and the audit log.
//! On both backends (see backend.rs); the Chromium test drives the real pages.

use std::time::Duration;

use provenant::base::clock::Clock;
use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};

use crate::browser::{self, Browser};
use crate::helpers::*;
use crate::oidc_standin::{Flaw, Jar, OidcStandIn, SignedIn, hop, sign_in, sign_in_hops};

const RULES: &[&str] = &[
    "@example.com=read",
    "ops@example.com=admin",
    "dev@example.com=write",
];

fn app_with_sso(standin: &OidcStandIn, clock: Option<Clock>) -> TestApp {
    let settings = standin.settings(RULES);
    TestApp::spawn_with(
        move |s| {
            s.sso = Some(settings);
            if let Some(clock) = clock {
                s.clock = clock;
            }
        },
        Processors::default(),
    )
}

fn webhook() -> Value {
    json!({"name": "from-sso", "type": "WEBHOOK", "config": {"allow_unverified": true}})
}

#[test]
fn an_allowed_person_gets_in_with_their_role_and_a_reader_may_not_change_anything() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    assert_eq!(
        app.request("GET", "/auth/sso", None, &[], None).json()["enabled"],
        true
    );

    let mut jar = Jar::default();
    let done = sign_in_hops(&app, &standin, "Ann@Example.com", &mut jar);
    assert_eq!(done.status, 303, "{}", done.text);
    let cookie = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("provenant_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Plain http here: a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    // The authorization request: code flow with PKCE S256, a state and a nonce.
    let asked = standin
        .authorizations()
        .pop()
        .expect("an authorization request");
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["client_id"], crate::oidc_standin::CLIENT_ID);
    assert!(
        asked["state"].len() >= 43 && asked["nonce"].len() >= 43,
        "{asked:?}"
    );
    assert!(asked["scope"].split(' ').any(|s| s == "openid"));
    assert_eq!(asked["redirect_uri"], app.url("/auth/sso/callback"));
    assert!(standin.refusals().is_empty(), "{:?}", standin.refusals());

    let header = jar.header();
    let me = app.request("GET", "/api/me", None, &[("cookie", &header)], None);
    assert_eq!(me.status, 200, "{}", me.text);
    let me = me.json();
    assert_eq!(me["actor"], "ann@example.com");
    assert_eq!(me["scopes"], json!(["read"]));
    assert_eq!(me["credential"], "session");
    let reader = SignedIn { jar, me };
    // A reader reads, and is refused (403 naming the scope) when it tries a change.
    assert_eq!(
        reader.call(&app, "GET", "/api/integrations", None).status,
        200
    );
    let refused = reader.call(&app, "POST", "/api/integrations", Some(&webhook()));
    let problem = refused.problem(403);
    assert_eq!(problem["code"], "forbidden", "{problem}");
    assert_eq!(problem["scope"], "write");
    assert_eq!(app.integration_count(), 0);

    // An admin's rule is stronger than the domain's.
    let admin = sign_in(&app, &standin, "ops@example.com");
    assert_eq!(admin.me["scopes"], json!(["admin"]));
    assert_eq!(
        admin
            .call(&app, "POST", "/api/integrations", Some(&webhook()))
            .status,
        201
    );
}

#[test]
fn a_person_who_is_not_allowed_is_refused_with_a_page_that_says_why() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    let mut jar = Jar::default();
    let refused = sign_in_hops(&app, &standin, "eve@elsewhere.org", &mut jar);
    assert_eq!(refused.status, 403);
    assert!(
        refused.text.contains("id=\"sso-reason\""),
        "{}",
        refused.text
    );
    assert!(
        refused
            .text
            .contains("eve@elsewhere.org is not among those allowed"),
        "{}",
        refused.text
    );
    assert!(jar.get("provenant_session").is_none());
    let audit = app.get("/api/audit?action=sign_in.failed").json();
    let entries = audit["items"].as_array().expect("items");
    assert!(
        entries.iter().any(|e| e["target"] == "eve@elsewhere.org"),
        "{audit}"
    );
}

#[test]
fn a_wrong_state_nonce_expiry_key_or_audience_is_refused() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    let cases = [
        (Flaw::OtherNonce, "nonce differs"),
        (Flaw::Expired, "has expired"),
        (Flaw::OtherKey, "signature does not verify"),
        (Flaw::OtherAudience, "for another audience"),
    ];
    for (flaw, reason) in cases {
        standin.next_flaw(flaw);
        let mut jar = Jar::default();
        let refused = sign_in_hops(&app, &standin, "ops@example.com", &mut jar);
        assert_eq!(refused.status, 403, "{flaw:?}: {}", refused.text);
        assert!(refused.text.contains(reason), "{flaw:?}: {}", refused.text);
        assert!(jar.get("provenant_session").is_none(), "{flaw:?}");
    }
    // A callback whose state is not this browser's: a link made for someone else.
    let mut theirs = Jar::default();
    standin.next_person("ops@example.com");
    let start = hop(&app.url("/auth/sso/start"), &mut theirs);
    let callback = hop(&start.location.expect("to the provider"), &mut theirs)
        .location
        .expect("back");
    let mut mine = Jar::default();
    assert_eq!(hop(&app.url("/auth/sso/start"), &mut mine).status, 302);
    let refused = hop(&callback, &mut mine);
    assert_eq!(refused.status, 403);
    assert!(
        refused.text.contains("state does not match"),
        "{}",
        refused.text
    );
    assert!(mine.get("provenant_session").is_none());
    // Its own browser finishes it, once: the same callback again is refused.
    let state_cookie = theirs
        .get("provenant_sso_state")
        .expect("state cookie")
        .to_string();
    assert_eq!(hop(&callback, &mut theirs).status, 303);
    let mut replayed = Jar(vec![("provenant_sso_state".into(), state_cookie)]);
    let again = hop(&callback, &mut replayed);
    assert_eq!(again.status, 403);
    assert!(
        again.text.contains("unknown, finished or too old"),
        "{}",
        again.text
    );
    assert!(replayed.get("provenant_session").is_none());
    // The provider's own error (a person who cancelled), and a crafted link's text, which the
    // page does not repeat.
    for (error, said) in [
        (
            "access_denied",
            "the identity provider said `access_denied`",
        ),
        (
            "Call%20us%20at%20555",
            "the identity provider sent an error",
        ),
    ] {
        let page = hop(
            &app.url(&format!("/auth/sso/callback?error={error}&state=x")),
            &mut Jar::default(),
        );
        assert_eq!(page.status, 403);
        assert!(page.text.contains(said), "{}", page.text);
        assert!(!page.text.contains("555"), "{}", page.text);
    }
    // The provider never had to refuse what the server sent it.
    assert!(standin.refusals().is_empty(), "{:?}", standin.refusals());
    let failed = app.get("/api/audit?action=sign_in.failed").json();
    assert_eq!(
        failed["items"].as_array().map(Vec::len),
        Some(8),
        "{failed}"
    );
}

#[test]
fn signing_out_or_being_revoked_ends_the_session_on_the_next_request() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    let leaving = sign_in(&app, &standin, "ann@example.com");
    let revoked = sign_in(&app, &standin, "dev@example.com");
    let listed = app.get("/api/sessions").json();
    let emails: Vec<&str> = listed
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 2, "{listed}");
    assert!(emails.contains(&"ann@example.com") && emails.contains(&"dev@example.com"));
    // A reader may not list or revoke sessions.
    assert_eq!(leaving.call(&app, "GET", "/api/sessions", None).status, 403);

    let out = leaving.call(&app, "DELETE", "/api/session", None);
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is cleared"
    );
    assert_eq!(leaving.call(&app, "GET", "/api/me", None).status, 401);

    let id = revoked.session_id();
    assert_eq!(revoked.call(&app, "GET", "/api/me", None).status, 200);
    assert_eq!(app.delete(&format!("/api/sessions/{id}")).status, 204);
    assert_eq!(revoked.call(&app, "GET", "/api/me", None).status, 401);
    assert_eq!(app.delete(&format!("/api/sessions/{id}")).status, 404);
    assert_eq!(app.get("/api/sessions").json(), json!([]));
}

#[test]
fn sessions_end_when_idle_and_at_their_absolute_end() {
    let standin = OidcStandIn::start();
    let clock = Clock::system();
    let app = app_with_sso(&standin, Some(clock.clone()));
    // Signed in together (the stand-in's ID tokens go by the real clock, so before any jump).
    let busy = sign_in(&app, &standin, "ann@example.com");
    let idle = sign_in(&app, &standin, "dev@example.com");
    // A request every 50 minutes keeps a session (idle is an hour)…
    for _ in 0..14 {
        clock.advance(Duration::from_secs(50 * 60));
        assert_eq!(busy.call(&app, "GET", "/api/me", None).status, 200);
    }
    // …one without a request for over an hour has ended…
    assert_eq!(idle.call(&app, "GET", "/api/me", None).status, 401);
    // …and the busy one ends at its 12 hours (11 h 40 min so far), however busy.
    clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(busy.call(&app, "GET", "/api/me", None).status, 401);
    assert_eq!(app.get("/api/sessions").json(), json!([]));
}

#[test]
fn a_change_with_the_cookie_alone_or_from_another_site_is_refused() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    let admin = sign_in(&app, &standin, "ops@example.com");
    let cookie = admin.jar.header();
    let body = Some(webhook().to_string().into_bytes());
    let csrf = admin.csrf();
    let origin = app.address.clone();
    let attempts: [(&str, Vec<(&str, &str)>); 4] = [
        ("no CSRF token", vec![]),
        ("a wrong CSRF token", vec![("x-csrf-token", "0000")]),
        (
            "another origin",
            vec![("x-csrf-token", &csrf), ("origin", "https://evil.example")],
        ),
        (
            "a cross-site request",
            vec![("x-csrf-token", &csrf), ("sec-fetch-site", "cross-site")],
        ),
    ];
    for (what, extra) in attempts {
        let mut headers = vec![
            ("cookie", cookie.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend(extra);
        let reply = app.request("POST", "/api/integrations", None, &headers, body.clone());
        assert_eq!(
            reply.problem(403)["code"],
            "csrf_failed",
            "{what}: {}",
            reply.text
        );
    }
    assert_eq!(app.integration_count(), 0);
    // The page's own request: the token, from this origin.
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
        ("x-csrf-token", csrf.as_str()),
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let made = app.request("POST", "/api/integrations", None, &headers, body);
    assert_eq!(made.status, 201, "{}", made.text);
}

#[test]
fn the_audit_log_names_the_person_who_signed_in_and_what_they_changed() {
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    let admin = sign_in(&app, &standin, "ops@example.com");
    let made = admin.call(&app, "POST", "/api/integrations", Some(&webhook()));
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.json()["id"].as_str().expect("id").to_string();
    let off = admin.call(
        &app,
        "PATCH",
        &format!("/api/integrations/{id}"),
        Some(&json!({"isActive": false})),
    );
    assert_eq!(off.status, 200, "{}", off.text);
    const VALUE: &str = "xoxb-sso-person-secret-value";
    let set = admin.call(
        &app,
        "PUT",
        "/api/secrets/SLACK_BOT",
        Some(&json!({"value": VALUE})),
    );
    assert!(set.status / 100 == 2, "{}", set.text);
    assert_eq!(admin.call(&app, "DELETE", "/api/session", None).status, 204);
    let answer = app.get("/api/audit");
    assert!(!answer.text.contains(VALUE), "{}", answer.text);
    assert!(
        !app.database_contains(VALUE),
        "the secret's value is in the database"
    );
    let entries = answer.json()["items"].clone();
    let by_ops: Vec<(String, String)> = entries
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor"] == "person:ops@example.com")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let actions: Vec<&str> = by_ops.iter().map(|(a, _)| a.as_str()).collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "sign_out",
            "secret.set",
            "integration.deactivated",
            "integration.created",
            "sign_in"
        ],
        "{entries}"
    );
}

#[test]
fn a_reader_signs_in_with_sso_in_chromium_sees_no_edit_buttons_and_signs_out() {
    if !browser::available() {
        return;
    }
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    app.create_integration("WEBHOOK", json!({"allow_unverified": true}));
    browser::run(async {
        let Some(b) = Browser::start("sso").await else {
            return;
        };
        standin.next_person("ann@example.com");
        b.goto(&app.url("/signin")).await;
        // Both ways in: SSO, and a token.
        let sso = b.wait_for("#sso-sign-in").await;
        assert_eq!(
            b.text_of("#signin-form button[type=submit]").await,
            "Use an API token"
        );
        sso.click().await.expect("click");
        // Through the provider and back to the integrations page, signed in.
        b.wait_for("#integrations").await;
        b.wait_for("body[data-may='read']").await;
        b.wait_for("article.integration").await;
        assert_eq!(b.text_of("#signed-in-as").await, "ann@example.com");
        let new = b.find("#new-integration").await;
        assert!(
            !new.is_displayed().await.expect("displayed"),
            "a reader sees New"
        );
        // The page sends no token: the API refuses the reader's change by the session's role.
        let refused = b
            .client
            .execute_async(
                "const done = arguments[0]; fetch('/api/me').then((r) => r.json()).then((me) => \
                 fetch('/api/integrations', {method: 'POST', headers: {'Content-Type': 'application/json', \
                 'X-CSRF-Token': me.csrfToken}, body: JSON.stringify({name: 'x', type: 'WEBHOOK', \
                 config: {allow_unverified: true}})})).then((r) => r.json()).then((p) => done(`${p.code} ${p.scope}`));",
                vec![],
            )
            .await
            .expect("fetch");
        assert_eq!(refused, json!("forbidden write"));
        b.find(".sign-out").await.click().await.expect("sign out");
        b.wait_for("#signin-form").await;
        b.goto(&app.url("/")).await;
        b.wait_for("#signin-form").await;
        b.close().await;
    });
    assert_eq!(app.get("/api/sessions").json(), json!([]));
}

#[test]
fn an_admin_revokes_another_browsers_session_on_the_tokens_page() {
    if !browser::available() {
        return;
    }
    let standin = OidcStandIn::start();
    let app = app_with_sso(&standin, None);
    // Another browser, signed in as a reader.
    let reader = sign_in(&app, &standin, "ann@example.com");
    browser::run(async {
        let Some(b) = Browser::start("sso-revoke").await else {
            return;
        };
        standin.next_person("ops@example.com");
        b.goto(&app.url("/signin")).await;
        b.wait_for("#sso-sign-in")
            .await
            .click()
            .await
            .expect("click");
        b.wait_for("body[data-may~='admin']").await;
        b.goto(&app.url("/tokens")).await;
        let row = "#sessions-list tr[data-email='ann@example.com']";
        b.wait_for(row).await;
        assert_eq!(b.count("#sessions-list tbody tr").await, 2);
        b.find(&format!("{row} .end-session"))
            .await
            .click()
            .await
            .expect("revoke");
        b.wait_until(
            "the session is gone from the table",
            "return !document.querySelector(\"#sessions-list tr[data-email='ann@example.com']\")",
        )
        .await;
        b.close().await;
    });
    assert_eq!(reader.call(&app, "GET", "/api/me", None).status, 401);
    let revoked = app.get("/api/audit?action=session.revoked").json();
    assert_eq!(
        revoked["items"][0]["actor"], "person:ops@example.com",
        "{revoked}"
    );
}
