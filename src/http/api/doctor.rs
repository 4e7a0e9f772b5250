//! `GET /api/doctor`: `provenant doctor`'s checklist, run by the server on itself.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::doctor::{self, Subject};
use crate::domain::checked::Timestamp;
use crate::http::state::SharedState;

pub struct DoctorApi;

/// One line of the checklist.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckupOut {
    /// What was looked at (`data folder …`, `database …`, `public URL …`, `clock`, an
    /// integration).
    pub subject: String,
    /// Whether it is fine.
    pub ok: bool,
    /// What was found.
    pub finding: String,
    /// What to do about it, when it is not fine.
    pub fix: Option<String>,
}

/// How often the checklist really runs: each run calls every remote with every credential,
/// so a caller with a `read` token must not be able to make the server do that at will.
pub const RUN_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The whole checklist.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct DoctorOut {
    /// Whether every check passed.
    pub ok: bool,
    /// When the checks ran (RFC 3339, UTC): the same run is answered for a minute.
    pub checked_at: Timestamp,
    /// Each check, in the order `provenant doctor` prints them.
    pub checks: Vec<CheckupOut>,
}

#[OpenApi(tag = "ApiTags::Health")]
impl DoctorApi {
    /// Check this installation.
    ///
    /// Check this installation, as `provenant doctor` does: the data folder (owner, mode),
    /// the database (integrity, size), the disk against a day's growth, the TLS certificate,
    /// whether the public URL reaches this server, the clock against GitHub's or GitLab's,
    /// and each active integration's credentials (GitHub and GitLab tokens and hooks, Slack
    /// webhook URLs and bot tokens). Reads only: nothing is sent to Slack or changed, and no
    /// credential appears in the answer, nor anything a host whose answers are hidden (not an
    /// allowed API host) said. Takes as long as the remotes take to answer (each call at most
    /// 10 s). The checks run at most once a minute: a call within a minute of the last run
    /// gets that run's answer (`checkedAt` says when it ran).
    #[oai(path = "/doctor", method = "get", operation_id = "checkInstallation")]
    async fn doctor(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<DoctorOut>, ApiError<AUTHED>> {
        let state = state.0.clone();
        let mut last = state.last_doctor.lock().await;
        let now = state.clock.now_ms();
        if let Some((at, checks)) = last.as_ref()
            && now - at < RUN_AT_MOST_EVERY.as_millis() as i64
            && now >= *at
        {
            return Ok(Json(out(*at, checks.clone())));
        }
        let run = state.clone();
        let checks = tokio::task::spawn_blocking(move || {
            let state = run;
            let certificate = state.tls.as_ref().map(|tls| {
                tls.store
                    .about()
                    .ok_or_else(|| "no certificate to serve yet: see the server log".to_string())
            });
            doctor::examine(&Subject {
                database: state.storage.location().clone(),
                pool: Some(state.pool.clone()),
                schema_version: crate::db::migrate::CURRENT_VERSION,
                data_dir: state.data_dir.clone(),
                secrets: Some(state.secrets.clone()),
                api_token: Some(state.api_token.clone()),
                public_url: state.public_url.clone(),
                certificate,
                allowed_hosts: state.allowed_hosts.clone(),
                clock: state.clock.clone(),
            })
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the checks stopped: {e}")))?;
        *last = Some((now, checks.clone()));
        Ok(Json(out(now, checks)))
    }
}

fn out(at: i64, checks: Vec<crate::doctor::Check>) -> DoctorOut {
    DoctorOut {
        ok: checks.iter().all(|c| c.ok),
        checked_at: Timestamp(at),
        checks: checks
            .into_iter()
            .map(|c| CheckupOut {
                subject: c.subject,
                ok: c.ok,
                finding: c.finding,
                fix: c.fix,
            })
            .collect(),
    }
}
