//! Turning a DISPATCH row into the request its HTTP runner is sent: `eval_run.requested`,
//! `deployment.requested` or `eval_run.cancelled`, with the run as the API shows it, signed
//! the Standard Webhooks way with the runner's secret. A request that asks for a run carries a
//! callback: the run's URL and a fresh token that may report on that run alone. The token is
//! made here, at the moment of sending, and only its hash is kept: the stored row never holds
//! it.

use serde_json::{Value, json};

use super::prepared::{Env, Prepared, Remote, failed};
use crate::base::clock::rfc3339;
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::integrations::Integration;
use crate::db::outbox::{Finish, OutboxRow};
use crate::db::run_tokens;
use crate::db::runs::{self, Deployment, EvalRun};
use crate::domain::access::RUN_TOKEN_PREFIX;
use crate::domain::integration_config::{DEFAULT_TIMEOUT, Target, signing_key};
use crate::domain::model::{RunKind, RunStatus};
use crate::pipeline::report;
use crate::pipeline::secrets;
use crate::remote::Request;

/// A run as its runner is given it: the fields `GET /api/eval-runs/{id}` (or
/// `/api/deployments/{id}`) shows under the same names, and what the request needs.
struct Given {
    data: Value,
    status: RunStatus,
    superseded: bool,
    timeout_at: Option<i64>,
}

fn eval_run(run: EvalRun) -> Given {
    Given {
        data: json!({
            "id": run.id,
            "integrationId": run.integration_id,
            "repo": run.repo,
            "number": run.number,
            "title": run.title,
            "headSha": run.head_sha,
            "headBranch": run.head_branch,
            "author": run.author,
            "url": run.url,
            "status": run.status.as_str(),
            "supersededBy": run.superseded_by,
            "attempt": run.attempt,
            "verified": run.verified,
            "sourceEventId": run.source_event_id,
            "createdAt": rfc3339(run.created_at),
            "updatedAt": rfc3339(run.updated_at),
            "timeoutAt": run.timeout_at.map(rfc3339),
        }),
        status: run.status,
        superseded: run.superseded_by.is_some(),
        timeout_at: run.timeout_at,
    }
}

fn deployment(d: Deployment) -> Given {
    Given {
        data: json!({
            "id": d.id,
            "integrationId": d.integration_id,
            "repo": d.repo,
            "commitSha": d.commit_sha,
            "branch": d.branch,
            "prNumber": d.pr_number,
            "url": d.url,
            "status": d.status.as_str(),
            "verified": d.verified,
            "sourceEventId": d.source_event_id,
            "createdAt": rfc3339(d.created_at),
            "updatedAt": rfc3339(d.updated_at),
            "timeoutAt": d.timeout_at.map(rfc3339),
        }),
        status: d.status,
        superseded: false,
        timeout_at: d.timeout_at,
    }
}

/// The request for a DISPATCH row, or why there is none. A runner taken out of the config
/// since the row was queued leaves its run waiting for the platform to poll for it, as it
/// would have without one: the run has not failed.
pub fn prepare(
    conn: Conn<'_>,
    env: &Env<'_>,
    row: &OutboxRow,
    integration: &Integration,
    now: i64,
) -> AppResult<Prepared> {
    let request_type = row.event_type.as_deref().unwrap_or_default();
    let Some(kind) = report::dispatched_kind(request_type) else {
        return Ok(failed(format!("unknown dispatch type {request_type:?}")));
    };
    let section = kind.section();
    let target = integration.settings.dispatch(kind).and_then(|d| d.target());
    let Some(Target::Runner { url, secret }) = target else {
        return Ok(Prepared::Settled(Finish::Sent {
            status: 0,
            excerpt: format!(
                "not sent: config.{section}.dispatch names no HTTP runner since the {} was made",
                kind.what()
            ),
        }));
    };
    let Some(run_id) = row.subject_id.as_deref() else {
        return Ok(failed(format!("the row names no {}", kind.what())));
    };
    let found = match kind {
        RunKind::EvalRun => runs::get_eval_run(conn, run_id).map(eval_run),
        RunKind::Deployment => runs::get_deployment(conn, run_id).map(deployment),
    };
    let mut run = match found {
        Ok(run) => run,
        Err(AppError::NotFound(_)) => {
            return Ok(failed(format!("the {} no longer exists", kind.what())));
        }
        Err(e) => return Err(e),
    };
    let cancelled = request_type == report::DISPATCH_CANCELLED;
    if !cancelled && (run.status != RunStatus::Pending || run.superseded) {
        return Ok(Prepared::Settled(Finish::Sent {
            status: 0,
            excerpt: format!(
                "not sent: the {} is {} already",
                kind.what(),
                if run.superseded {
                    "superseded"
                } else {
                    run.status.as_str()
                }
            ),
        }));
    }
    let url = url.as_str().to_string();
    if !env.allowed.credentials_may_go_to(&url) {
        return Ok(failed(format!(
            "not sent: the request carries a token, which goes only over https, and {} is not (an admin may list this exact origin as http://host[:port] in --egress-allow)",
            crate::domain::hosts::origin(&url).unwrap_or_default()
        )));
    }
    let secret = match secrets::resolve_config_value(
        conn,
        env.secrets,
        &integration.id,
        &format!("{section}.dispatch.secret"),
        Some(secret),
        Some(&url),
    ) {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return Ok(failed(format!(
                "config.{section}.dispatch.secret is not set"
            )));
        }
        Err(e) => return Ok(failed(e)),
    };
    let Some(key) = signing_key(&secret) else {
        return Ok(failed(format!(
            "config.{section}.dispatch.secret is not a whsec_ signing secret"
        )));
    };
    // A cancelled run is only named, with the run that took its place; a requested one
    // carries its callback and a fresh token for it, which lasts until the run times out.
    let token = if cancelled {
        None
    } else {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("random bytes: {e}")))?;
        let token = format!("{RUN_TOKEN_PREFIX}{}", hex::encode(random));
        let expires_at = run
            .timeout_at
            .unwrap_or(now + DEFAULT_TIMEOUT.as_millis() as i64);
        run_tokens::insert(conn, &token, kind, run_id, now, expires_at)?;
        run.data["callback"] = json!({
            "url": format!("{}/api/{}/{run_id}", env.public_url, kind.path()),
            "token": token,
        });
        Some(token)
    };
    let body = json!({
        "type": request_type,
        "timestamp": rfc3339(now),
        "data": run.data,
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let timestamp = now.div_euclid(1000);
    let signature = crate::domain::webhook::verify::standard_webhooks_signature(
        &key, &row.id, timestamp, &body,
    );
    let request = Request {
        method: "POST".into(),
        show_answer: env.allowed.shows(&url),
        plain_http_ok: env.allowed.credentials_may_go_to(&url),
        url,
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", row.id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body: Some(body),
        url_is_secret: false,
        body_secret: token,
    };
    Ok(Prepared::Send(request, Remote::Runner, None))
}
