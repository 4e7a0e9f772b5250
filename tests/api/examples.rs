//! Every example in the served spec works as it stands: each operation is sent its
//! parameters' and its body's examples and answers one of its documented 2xx. Only the ids in
//! paths are replaced, by ids of things this test made (no example can know them), so the
//! explorer's "Try it out" starts from something the server takes.

use std::collections::BTreeMap;
use std::sync::Arc;

use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;
use crate::oidc_standin::{OidcStandIn, sign_in};

/// What the operations act on, made through the API before any example is sent.
struct Made {
    /// A WEBHOOK integration that takes unsigned deliveries: the receiver's, the PATCH
    /// example's (of type WEBHOOK) and most others'.
    hook: String,
    /// A GITHUB integration (reconcile, rotation): its eval run, deployment and outbox row.
    github: String,
    /// Deleted by `deleteIntegration`.
    spare: String,
    /// A GITHUB integration with no credential yet: a GitHub App's manifest is made for it.
    app_to_be: String,
    failed_event: String,
    replay: String,
    eval_run: String,
    deployment: String,
    failed_row: String,
    /// The failed row's destination.
    destination: String,
    /// Revoked by `deleteApiToken`.
    token: String,
    /// A person signed in with SSO, signed out by `deleteSession`.
    session: String,
}

fn make(app: &TestApp, api: &FakeRemote, standin: &OidcStandIn) -> Made {
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let spare = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let app_to_be = app.create_integration_id("GITHUB", json!({"repos": ["my-org/*"]}));
    // The first request GitHub gets (the PR's pending commit status) is refused for good.
    api.push(Canned::status(422, r#"{"message":"Validation Failed"}"#));
    api.set_default(Canned::status(201, r#"{"id": 4242}"#));
    let github = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": "ghp_examples", "api_url": api.url}),
    );
    let deliver_github = |event: &str, payload: Value| {
        let id = app.deliver_accepted(
            &github,
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
            ],
            payload.to_string().as_bytes(),
        );
        let event = app.wait_for_status(&github, &id, &["PROCESSED", "FAILED"]);
        assert_eq!(event["status"], "PROCESSED", "{event}");
        app.wait_until_idle();
    };
    let head = "1".repeat(40);
    deliver_github(
        "pull_request",
        github_pr("opened", 1, "main", &head, false, None),
    );
    deliver_github(
        "pull_request",
        github_pr("closed", 1, "main", &head, true, Some(&"2".repeat(40))),
    );

    let failed_event = app.deliver_accepted(
        &hook,
        &[("content-type", "application/json")],
        br#"{"fail": true}"#,
    );
    app.wait_for_status(&hook, &failed_event, &["FAILED"]);
    let reply = app.post_json(
        &format!("/api/integrations/{hook}/replay"),
        &json!({"status": "FAILED", "dryRun": false}),
    );
    assert!(reply.status / 100 == 2, "{}", reply.text);
    let replay = string(&reply.json(), "id");
    app.wait_until_idle();

    let first = |path: &str| string(&app.get(path).json()["items"][0], "id");
    let token = app.post_json(
        "/api/tokens",
        &json!({"name": "to revoke", "scopes": ["read"]}),
    );
    assert_eq!(token.status, 201, "{}", token.text);
    Made {
        token: string(&token.json(), "id"),
        session: sign_in(app, standin, "reader@example.com").session_id(),
        failed_row: first("/api/outbox?status=FAILED"),
        destination: string(
            &app.get("/api/outbox?status=FAILED").json()["items"][0],
            "destination",
        ),
        eval_run: first("/api/eval-runs"),
        deployment: first("/api/deployments"),
        hook,
        github,
        spare,
        app_to_be,
        failed_event,
        replay,
    }
}

fn string(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

/// The id that an operation's path parameter takes; `None`: its example is used (a secret's
/// name).
fn id_for(made: &Made, operation: &str, param: &str) -> Option<String> {
    let integration = match operation {
        "deleteIntegration" => &made.spare,
        "reconcileIntegration" | "getReconcileReport" | "rotateSecret" => &made.github,
        "startGithubAppManifest" | "completeGithubAppManifest" => &made.app_to_be,
        _ => &made.hook,
    };
    let id = match (operation, param) {
        (_, "name") => return None,
        (_, "integration_id") => &made.hook,
        ("updateEvalRun" | "getEvalRunResults", "id") => &made.eval_run,
        ("updateDeployment", "id") => &made.deployment,
        ("retryOutboxRow", "id") => &made.failed_row,
        ("deleteApiToken", "id") => &made.token,
        ("deleteSession", "id") => &made.session,
        (_, "id") => integration,
        (_, "event_id") => &made.failed_event,
        (_, "replay_id") => &made.replay,
        (_, "key") => &made.destination,
        _ => panic!("{operation}: no id for the path parameter {param}"),
    };
    Some(id.clone())
}

struct Operation {
    id: String,
    method: String,
    path: String,
    op: Value,
}

/// Changes that would stop others from working go last: the PATCH example pauses the
/// receiver's integration, and deletions delete.
fn order(method: &str) -> u8 {
    match method {
        "post" | "put" => 0,
        "get" => 1,
        "patch" => 2,
        _ => 3,
    }
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().expect("name");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn example_of<'a>(spec: &'a Value, holder: &'a Value) -> Option<&'a Value> {
    holder
        .get("example")
        .or_else(|| resolve(spec, &holder["schema"]).get("example"))
}

fn query_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_operation_takes_its_examples_as_they_stand() {
    let api = FakeRemote::start();
    let standin = OidcStandIn::start();
    let sso = standin.settings(&["@example.com=read"]);
    let app = TestApp::spawn_with(
        move |s| s.sso = Some(sso),
        Processors {
            webhook: Arc::new(FailsWhenAsked),
            ..Processors::default()
        },
    );
    let made = make(&app, &api, &standin);
    let spec = app.get("/api/openapi.json").json();

    let mut operations = Vec::new();
    for (path, methods) in spec["paths"].as_object().expect("paths") {
        for (method, op) in methods.as_object().expect("operations") {
            operations.push(Operation {
                id: string(op, "operationId"),
                method: method.clone(),
                path: path.clone(),
                op: op.clone(),
            });
        }
    }
    operations.sort_by_key(|o| order(&o.method));

    let mut answered = BTreeMap::new();
    for o in &operations {
        let mut path = o.path.clone();
        let mut query = Vec::new();
        for p in o.op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().expect("name");
            let example = example_of(&spec, p)
                .unwrap_or_else(|| panic!("{}: the parameter {name} has no example", o.id));
            match p["in"].as_str() {
                Some("path") => {
                    let value = id_for(&made, &o.id, name).unwrap_or_else(|| query_value(example));
                    path = path.replace(&format!("{{{name}}}"), &value);
                }
                Some("query") => query.push(format!("{name}={}", query_value(example))),
                other => panic!("{}: a parameter in {other:?}", o.id),
            }
        }
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let body = o.op.get("requestBody").map(|body| {
            let content = body["content"].as_object().expect("content");
            for (media, holder) in content {
                assert!(
                    example_of(&spec, holder).is_some(),
                    "{}: the {media} body has no example",
                    o.id
                );
            }
            // The first media type is the one the explorer starts with.
            let (media, holder) = content.iter().next().expect("a media type");
            let example = example_of(&spec, holder).expect("example");
            assert_eq!(media, "application/json", "{}", o.id);
            example.to_string().into_bytes()
        });
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        let token = (o.op["security"] != json!([])).then_some(TOKEN);
        let reply = app.request(
            &o.method.to_uppercase(),
            &format!("/api{path}"),
            token,
            headers,
            body,
        );
        // GitHub's one-time code and the state it comes back with cannot be an example that
        // works: the example is read, and refused for its state, as documented.
        if o.id == "completeGithubAppManifest" {
            assert_eq!(reply.status, 409, "{}", reply.text);
            assert_eq!(reply.json()["field"], "state", "{}", reply.text);
            answered.insert(o.id.clone(), reply.status);
            continue;
        }
        let documented: Vec<&String> = o.op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .filter(|status| status.starts_with('2'))
            .collect();
        assert!(
            documented.contains(&&reply.status.to_string()),
            "{} {} answered {} (documented: {documented:?}): {}",
            o.method.to_uppercase(),
            path,
            reply.status,
            reply.text
        );
        answered.insert(o.id.clone(), reply.status);
    }
    // Every operation was tried (a new one with no way to get its ids panics above).
    assert_eq!(answered.len(), operations.len());
    assert!(answered.len() >= 31, "{answered:?}");
}
