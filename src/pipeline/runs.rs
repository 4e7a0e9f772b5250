//! A run's life cycle, told in one place: what GitHub or GitLab and Slack hear when an eval run
//! or a deployment starts (a delivery, through the worker), is superseded by a newer head
//! commit, or changes status (a runner, through the API's PATCH). Nothing here sends or
//! queues by itself: each moment returns what it tells, and the caller queues it in the same
//! transaction as the change, the worker noting each row in the delivery's trace.

use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::integrations::{self, Integration};
use crate::db::outbox::{self, NewRow};
use crate::db::runs::{self, Deployment, EvalRun};
use crate::domain::model::{self, RunKind, RunStatus};
use crate::domain::secrets::SecretBox;
use crate::pipeline::notify::announce::{self, Announcement};
use crate::pipeline::report;

/// What one moment of a run tells the outside world.
#[derive(Debug, Default)]
pub struct Told {
    /// Rows for GitHub or GitLab: commit statuses, check runs, deployments and their statuses.
    pub reports: Vec<NewRow>,
    /// Whether the integration had credentials to report with (without, `reports` is empty
    /// and the remote shows nothing).
    pub reported: bool,
    /// The announcement for the SLACK integrations that listen, when the moment is announced.
    pub announcement: Option<Announcement>,
}

/// A new eval run: its commit is told it is pending (a check run is created, for an App), the
/// runs it supersedes are told so (on their own commits, naming the new head), and Slack hears
/// `eval_run.triggered`. `destination` is where the integration's API calls queue (see
/// [`report::api_destination`]); None when it has no credentials.
pub fn eval_run_started(
    conn: Conn<'_>,
    public_url: &str,
    integration: &Integration,
    destination: Option<&str>,
    run: &EvalRun,
    superseded: &[EvalRun],
) -> AppResult<Told> {
    let mut told = Told {
        announcement: Some(announce::eval_run_announcement("eval_run.triggered", run)),
        ..Told::default()
    };
    // The runner is told of the runs this one supersedes and asked to run it, whether or
    // not the remote can be told.
    for old in superseded {
        told.reports
            .extend(report::dispatch_cancel_row(integration, old));
    }
    told.reports.extend(report::dispatch_row(
        integration,
        destination,
        &report::Dispatched::eval_run(integration, run),
    ));
    let Some(destination) = destination else {
        return Ok(told);
    };
    told.reported = true;
    for old in superseded {
        let link = report::run_link(public_url, "eval-runs", &old.id);
        let summary = runs::summary(conn, &old.id)?;
        told.reports.push(report::eval_run_report(
            integration,
            destination,
            old,
            &report::EvalReport {
                newer: Some(&run.head_sha),
                target_url: Some(&link),
                summary: summary.as_deref(),
                ..Default::default()
            },
        ));
    }
    let link = report::run_link(public_url, "eval-runs", &run.id);
    told.reports.push(report::eval_run_report(
        integration,
        destination,
        run,
        &report::EvalReport {
            target_url: Some(&link),
            created: true,
            ..Default::default()
        },
    ));
    Ok(told)
}

/// A new deployment: its HTTP runner is asked to deploy it (`deploy.dispatch`), the remote is
/// told of it (a GitHub deployment and its first status, or GitLab's commit status) and Slack
/// hears `promotion.started`.
pub fn deployment_started(
    public_url: &str,
    integration: &Integration,
    destination: Option<&str>,
    deployment: &Deployment,
) -> Told {
    let mut told = Told {
        announcement: Some(announce::deployment_announcement(
            "promotion.started",
            deployment,
        )),
        ..Told::default()
    };
    told.reports.extend(report::dispatch_row(
        integration,
        destination,
        &report::Dispatched::deployment(deployment),
    ));
    if let Some(destination) = destination {
        let link = report::run_link(public_url, "deployments", &deployment.id);
        told.reported = true;
        told.reports.extend(report::deployment_rows(
            integration,
            destination,
            deployment,
            true,
            Some(&link),
        ));
    }
    told
}

/// How a run came to its present state, for [`moved`].
pub struct Move<'a> {
    /// The status before the change (the run carries the one after).
    pub before: RunStatus,
    /// Whether the eval run's summary changed (news for its check run even at one status).
    pub summary_changed: bool,
    /// Whether the eval run's results changed (news for its status, check run and comment;
    /// annotations are sent for new results only).
    pub results_changed: bool,
    /// The runner's own page for the run, shown instead of this server's.
    pub target_url: Option<&'a str>,
}

/// Either kind of run, for the moments both share.
#[derive(Clone, Copy)]
pub enum Run<'a> {
    Eval(&'a EvalRun),
    Deployment(&'a Deployment),
}

impl Run<'_> {
    /// The integration the run came from.
    pub fn integration_id(&self) -> &str {
        match self {
            Run::Eval(r) => &r.integration_id,
            Run::Deployment(d) => &d.integration_id,
        }
    }

    fn verified(&self) -> bool {
        match self {
            Run::Eval(r) => r.verified,
            Run::Deployment(d) => d.verified,
        }
    }

    fn status(&self) -> RunStatus {
        match self {
            Run::Eval(r) => r.status,
            Run::Deployment(d) => d.status,
        }
    }

    /// The Slack event when the run reaches its status, if that is announced.
    fn finished_event(&self) -> Option<String> {
        let prefix = match self {
            Run::Eval(_) => "eval_run",
            Run::Deployment(_) => "promotion",
        };
        match self.status() {
            RunStatus::Succeeded => Some(format!("{prefix}.succeeded")),
            RunStatus::Failed => Some(format!("{prefix}.failed")),
            RunStatus::Pending | RunStatus::Running => None,
        }
    }
}

/// A run whose status (or summary) changed: its commit or deployment on the remote is told
/// the new state, and Slack hears when it succeeded or failed. Nothing is told when nothing
/// changed, and nothing at all for a run from an unverified delivery (unless its integration
/// allows those to act); an inactive integration reports nothing to its remote, and a
/// superseded eval run's commit already says so, so a late result for it says nothing there.
pub fn moved(
    conn: Conn<'_>,
    secrets: &SecretBox,
    public_url: &str,
    run: Run<'_>,
    how: &Move<'_>,
) -> AppResult<Told> {
    let status_changed = how.before != run.status();
    let mut told = Told::default();
    if !status_changed && !how.summary_changed && !how.results_changed {
        return Ok(told);
    }
    let integration = integrations::get(conn, run.integration_id())?;
    if !integration.settings.may_call_out(run.verified()) {
        return Ok(told);
    }
    let shown = match run {
        Run::Eval(r) => report::Shown::load(conn, r, integration.settings.evaluates_pushes())?,
        Run::Deployment(_) => None,
    };
    told.announcement =
        run.finished_event()
            .filter(|_| status_changed)
            .map(|event_type| match run {
                Run::Eval(r) => {
                    let mut announcement = announce::eval_run_announcement(&event_type, r);
                    // The run's message (updated in place with a bot token) shows the results.
                    if let Some(line) = shown.as_ref().and_then(report::Shown::one_line) {
                        announcement.facts.insert("results".into(), line.into());
                    }
                    announcement
                }
                Run::Deployment(d) => announce::deployment_announcement(&event_type, d),
            });
    let superseded = matches!(run, Run::Eval(r) if r.superseded_by.is_some());
    if !integration.is_active || superseded {
        return Ok(told);
    }
    let repo = match run {
        Run::Eval(r) => &r.repo,
        Run::Deployment(d) => &d.repo,
    };
    let Some(destination) = report::api_destination(conn, secrets, &integration, Some(repo))
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?
    else {
        return Ok(told);
    };
    told.reported = true;
    told.reports = match run {
        Run::Eval(r) => {
            let link = how
                .target_url
                .map(str::to_string)
                .unwrap_or_else(|| report::run_link(public_url, "eval-runs", &r.id));
            let summary = runs::summary(conn, &r.id)?;
            let page = report::run_link(public_url, "eval-runs", &r.id);
            let mut rows = vec![report::eval_run_report(
                &integration,
                &destination,
                r,
                &report::EvalReport {
                    target_url: Some(&link),
                    page: Some(&page),
                    summary: summary.as_deref(),
                    shown: shown.as_ref(),
                    ..Default::default()
                },
            )];
            // The comment follows the status (it names it); annotations come once a result.
            if let Some(shown) = &shown {
                let mark = report::comment_mark(secrets, &integration.id, &r.repo, r.number);
                rows.extend(report::results_rows(
                    &integration,
                    &destination,
                    r,
                    shown,
                    &page,
                    how.results_changed,
                    &mark,
                ));
            }
            rows
        }
        Run::Deployment(d) => {
            let link = how
                .target_url
                .map(str::to_string)
                .unwrap_or_else(|| report::run_link(public_url, "deployments", &d.id));
            report::deployment_rows(&integration, &destination, d, false, Some(&link))
        }
    };
    Ok(told)
}

/// Queues all that `told` says, in the caller's transaction: the reports for the outbox and
/// the announcement for every SLACK integration that listens (at most `alert_cap` alerts
/// waiting per source). The worker queues through its own context instead, which notes each
/// row in the delivery's trace.
pub fn queue(conn: Conn<'_>, told: &Told, now: i64, alert_cap: usize) -> AppResult<()> {
    for row in &told.reports {
        outbox::insert(conn, row, &model::new_row_id(), now)?;
    }
    if let Some(announcement) = &told.announcement {
        announce::announce(conn, announcement, now, alert_cap)?;
    }
    Ok(())
}

/// An open eval run that ends because what it was for is gone (a merge queue entry that was
/// merged, invalidated or dequeued): FAILED with `why` as its summary, its HTTP runner told
/// `eval_run.cancelled`, and its end told like any other. Nothing when it has ended already.
pub fn cancelled(
    conn: Conn<'_>,
    secrets: &SecretBox,
    public_url: &str,
    integration: &Integration,
    run: &EvalRun,
    why: &str,
    now: i64,
) -> AppResult<Told> {
    let Some(mut told) = ended(
        conn,
        secrets,
        public_url,
        RunKind::EvalRun,
        &run.id,
        why,
        now,
    )?
    else {
        return Ok(Told::default());
    };
    told.reports
        .splice(0..0, report::dispatch_cancel_row(integration, run));
    Ok(told)
}

/// What telling the end of a run needs, for the moments that are no request's: a failed
/// dispatch (the outbox) and a timeout (the worker's sweep).
pub struct Teller<'a> {
    pub secrets: &'a SecretBox,
    /// Base of links to this server's pages.
    pub public_url: &'a str,
    /// Alerts waiting per source, at most (`--max-queued-alerts`).
    pub alert_cap: usize,
}

/// An eval run or deployment whose HTTP runner could not be given it (the dispatch failed for
/// good): the run FAILED, with the reason, told to the remote and to Slack like any other end.
/// A run that ended or was superseded meanwhile is left as it is.
pub fn dispatch_failed(
    conn: Conn<'_>,
    teller: &Teller<'_>,
    kind: RunKind,
    run_id: &str,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    let why = format!("The {} was not started: {reason}", kind.what());
    fail(conn, teller, kind, run_id, &why, now).map(|_| ())
}

/// How many overdue runs one sweep fails at most, of each kind (the rest wait for the next).
const TIMEOUTS_PER_SWEEP: u32 = 100;

/// Fails the runs still PENDING or RUNNING past their `timeout_at` ("timed out"), each told
/// like any other end. Returns how many it failed.
pub fn time_out_overdue(conn: Conn<'_>, teller: &Teller<'_>, now: i64) -> AppResult<usize> {
    let mut failed = 0;
    for overdue in runs::overdue(conn, now, TIMEOUTS_PER_SWEEP)? {
        let why = format!(
            "Timed out: no result within {} ({}.timeout)",
            crate::base::duration::show(std::time::Duration::from_millis(
                overdue.timeout_ms.max(0) as u64
            )),
            overdue.kind.section()
        );
        if fail(conn, teller, overdue.kind, &overdue.id, &why, now)? {
            failed += 1;
        }
    }
    Ok(failed)
}

/// Moves an open run to FAILED with `why` (an eval run's summary) and queues what that tells.
/// False when the run is gone, ended or superseded: nothing changes.
fn fail(
    conn: Conn<'_>,
    teller: &Teller<'_>,
    kind: RunKind,
    run_id: &str,
    why: &str,
    now: i64,
) -> AppResult<bool> {
    let ended = ended(
        conn,
        teller.secrets,
        teller.public_url,
        kind,
        run_id,
        why,
        now,
    )?;
    let Some(told) = ended else {
        return Ok(false);
    };
    queue(conn, &told, now, teller.alert_cap)?;
    Ok(true)
}

/// Moves an open run to FAILED with `why` (an eval run's summary); what that tells. None when
/// the run is gone, ended or superseded: nothing changes.
fn ended(
    conn: Conn<'_>,
    secrets: &SecretBox,
    public_url: &str,
    kind: RunKind,
    run_id: &str,
    why: &str,
    now: i64,
) -> AppResult<Option<Told>> {
    let open = runs::facts(conn, kind, run_id)?
        .is_some_and(|run| !run.superseded && run.status.can_become(RunStatus::Failed));
    if !open {
        return Ok(None);
    }
    let before = runs::set_status(conn, kind, run_id, RunStatus::Failed, now)?;
    let how = Move {
        before,
        summary_changed: kind == RunKind::EvalRun,
        results_changed: false,
        target_url: None,
    };
    let told = match kind {
        RunKind::EvalRun => {
            runs::set_summary(conn, run_id, why)?;
            let run = runs::get_eval_run(conn, run_id)?;
            moved(conn, secrets, public_url, Run::Eval(&run), &how)?
        }
        RunKind::Deployment => {
            let deployment = runs::get_deployment(conn, run_id)?;
            moved(
                conn,
                secrets,
                public_url,
                Run::Deployment(&deployment),
                &how,
            )?
        }
    };
    Ok(Some(told))
}
