//! Every SQL statement that touches the `eval_runs` and `deployments` tables. The two tables
//! have the same life cycle (created once per commit, status moved by the platform), so they
//! share list and status code; each keeps its own insert.

use super::DbResult;
use super::sql::{Conn, Row, ToValue, params};

use crate::base::error::{AppError, AppResult};
use crate::domain::model::{RunKind, RunStatus};

#[derive(Debug, Clone)]
pub struct EvalRun {
    pub id: String,
    pub integration_id: String,
    pub repo: String,
    pub number: i64,
    pub title: Option<String>,
    pub head_sha: String,
    pub head_branch: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub status: RunStatus,
    pub source_event_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The newer run of the same PR/MR that replaced this one (a new head commit).
    pub superseded_by: Option<String>,
    /// Whether the delivery that created it passed a signature check. An unverified run
    /// is told to nobody unless its integration allows unverified deliveries to act.
    pub verified: bool,
    /// 1 for a commit's first run; each re-run (GitHub's Re-run button) one more.
    pub attempt: i64,
    /// When it fails as timed out if still PENDING or RUNNING (`eval.timeout` after it was
    /// made). None for runs made before timeouts existed: those never time out.
    pub timeout_at: Option<i64>,
    /// The overall score (0–1) its runner last reported; None until one did.
    pub score: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub integration_id: String,
    pub repo: String,
    pub commit_sha: String,
    pub branch: String,
    pub pr_number: Option<i64>,
    pub url: Option<String>,
    pub status: RunStatus,
    pub source_event_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The GitHub deployment created for it.
    pub remote_id: Option<String>,
    /// Whether the delivery that created it passed a signature check (see [`EvalRun`]).
    pub verified: bool,
    /// When it fails as timed out if still PENDING or RUNNING (see [`EvalRun`]).
    pub timeout_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub integration_id: Option<String>,
    pub repo: Option<String>,
    pub status: Option<RunStatus>,
    /// Only rows older than this cursor (`created_at`, `id` of the last row of a page).
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

/// The columns a new run is stored with, in the order of [`eval_values`].
macro_rules! eval_inserted {
    () => {
        "id, integration_id, repo, number, title, head_sha, head_branch, author, url, status, \
         source_event_id, created_at, updated_at, superseded_by, verified, attempt, timeout_at"
    };
}
const EVAL_INSERTED: &str = eval_inserted!();
/// The columns a run is read with (its score is only ever reported later).
const EVAL_COLUMNS: &str = concat!(eval_inserted!(), ", score");

/// A run's values in the order of [`EVAL_INSERTED`], as `?1` … `?17`.
fn eval_values(run: &EvalRun) -> [&dyn ToValue; 17] {
    [
        &run.id,
        &run.integration_id,
        &run.repo,
        &run.number,
        &run.title,
        &run.head_sha,
        &run.head_branch,
        &run.author,
        &run.url,
        &run.status,
        &run.source_event_id,
        &run.created_at,
        &run.updated_at,
        &run.superseded_by,
        &run.verified,
        &run.attempt,
        &run.timeout_at,
    ]
}

fn eval_from_row(r: &Row<'_>) -> DbResult<EvalRun> {
    Ok(EvalRun {
        id: r.get(0)?,
        integration_id: r.get(1)?,
        repo: r.get(2)?,
        number: r.get(3)?,
        title: r.get(4)?,
        head_sha: r.get(5)?,
        head_branch: r.get(6)?,
        author: r.get(7)?,
        url: r.get(8)?,
        status: r.get(9)?,
        source_event_id: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        superseded_by: r.get(13)?,
        verified: r.get(14)?,
        attempt: r.get(15)?,
        timeout_at: r.get(16)?,
        score: r.get(17)?,
    })
}

const DEPLOY_COLUMNS: &str = "id, integration_id, repo, commit_sha, branch, pr_number, url, \
                              status, source_event_id, created_at, updated_at, remote_id, \
                              verified, timeout_at";

fn deploy_from_row(r: &Row<'_>) -> DbResult<Deployment> {
    Ok(Deployment {
        id: r.get(0)?,
        integration_id: r.get(1)?,
        repo: r.get(2)?,
        commit_sha: r.get(3)?,
        branch: r.get(4)?,
        pr_number: r.get(5)?,
        url: r.get(6)?,
        status: r.get(7)?,
        source_event_id: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        remote_id: r.get(11)?,
        verified: r.get(12)?,
        timeout_at: r.get(13)?,
    })
}

/// Stores the eval run unless one exists for the same repo, number and head SHA. Returns the
/// stored run and whether it is new.
pub fn insert_eval_run(conn: Conn<'_>, run: &EvalRun) -> AppResult<(EvalRun, bool)> {
    if conn.is_postgres()
        && let Some(found) = insert_eval_run_in_one_trip(conn, run)?
    {
        return Ok(found);
    }
    let inserted = conn.execute(
        &format!("INSERT INTO eval_runs ({EVAL_INSERTED}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT DO NOTHING"),
        &eval_values(run),
    )? == 1;
    let stored = conn.query_row(
        &format!(
            "SELECT {EVAL_COLUMNS} FROM eval_runs
             WHERE repo = ?1 AND number = ?2 AND head_sha = ?3 AND attempt = 1"
        ),
        params![run.repo, run.number, run.head_sha],
        eval_from_row,
    )?;
    Ok((stored, inserted))
}

/// A re-run of a commit's eval run (GitHub's Re-run button): always a new run, its `attempt`
/// one more than the commit's last. Returns it with its attempt.
pub fn insert_rerun(conn: Conn<'_>, run: &EvalRun) -> AppResult<(EvalRun, i64)> {
    let attempt: i64 = conn.query_value(
        "SELECT COALESCE(MAX(attempt), 0) + 1 FROM eval_runs
         WHERE repo = ?1 AND number = ?2 AND head_sha = ?3",
        params![run.repo, run.number, run.head_sha],
    )?;
    let run = EvalRun {
        attempt,
        ..run.clone()
    };
    conn.execute(
        &format!(
            "INSERT INTO eval_runs ({EVAL_INSERTED})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ),
        &eval_values(&run),
    )?;
    Ok((get_eval_run(conn, &run.id)?, attempt))
}

/// [`insert_eval_run`] in one statement, for PostgreSQL, where each statement is a round trip
/// and a pull request's redeliveries and reopenings mostly find their run recorded. None when
/// the run that the insert conflicted with is not visible to the statement (another node's
/// transaction committed it while this one waited): the caller then reads it afresh.
fn insert_eval_run_in_one_trip(
    conn: Conn<'_>,
    run: &EvalRun,
) -> AppResult<Option<(EvalRun, bool)>> {
    let sql = format!(
        "WITH inserted AS (
             INSERT INTO eval_runs ({EVAL_INSERTED})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT DO NOTHING RETURNING {EVAL_COLUMNS})
         SELECT {EVAL_COLUMNS}, TRUE FROM inserted
         UNION ALL
         SELECT {EVAL_COLUMNS}, FALSE FROM eval_runs
         WHERE repo = ?3 AND number = ?4 AND head_sha = ?6 AND attempt = 1
           AND NOT EXISTS (SELECT 1 FROM inserted)"
    );
    let found = conn.query_map(&sql, &eval_values(run), |r| {
        Ok((eval_from_row(r)?, r.get::<bool>(18)?))
    })?;
    Ok(found.into_iter().next())
}

/// Stores the deployment unless one exists for the same repo and commit; a later event that
/// knows the PR number fills it in. Returns the stored deployment and whether it is new.
pub fn insert_deployment(conn: Conn<'_>, d: &Deployment) -> AppResult<(Deployment, bool)> {
    let inserted = conn.execute(
        &format!("INSERT INTO deployments ({DEPLOY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING"),
        params![
            d.id, d.integration_id, d.repo, d.commit_sha, d.branch, d.pr_number, d.url,
            d.status, d.source_event_id, d.created_at, d.updated_at, d.remote_id, d.verified,
            d.timeout_at
        ],
    )? == 1;
    if !inserted && d.pr_number.is_some() {
        conn.execute(
            "UPDATE deployments SET pr_number = COALESCE(pr_number, ?3), url = COALESCE(url, ?4)
             WHERE repo = ?1 AND commit_sha = ?2",
            params![d.repo, d.commit_sha, d.pr_number, d.url],
        )?;
    }
    let stored = conn.query_row(
        &format!("SELECT {DEPLOY_COLUMNS} FROM deployments WHERE repo = ?1 AND commit_sha = ?2"),
        params![d.repo, d.commit_sha],
        deploy_from_row,
    )?;
    Ok((stored, inserted))
}

/// Marks the unfinished runs of the same PR/MR at other head commits as superseded by `run`;
/// returns them (as they were).
pub fn supersede_older(conn: Conn<'_>, run: &EvalRun, now: i64) -> AppResult<Vec<EvalRun>> {
    let older: Vec<EvalRun> = conn.query_map(
        &format!(
            "SELECT {EVAL_COLUMNS} FROM eval_runs
             WHERE repo = ?1 AND number = ?2 AND id != ?3 AND superseded_by IS NULL
               AND status IN ('PENDING', 'RUNNING') AND created_at <= ?4"
        ),
        params![run.repo, run.number, run.id, run.created_at],
        eval_from_row,
    )?;
    for old in &older {
        conn.execute(
            "UPDATE eval_runs SET superseded_by = ?2, updated_at = ?3 WHERE id = ?1",
            params![old.id, run.id, now],
        )?;
    }
    Ok(older)
}

/// The eval runs of `repo` at `head_sha` still PENDING or RUNNING and not superseded.
pub fn open_at(conn: Conn<'_>, repo: &str, head_sha: &str) -> AppResult<Vec<EvalRun>> {
    Ok(conn.query_map(
        &format!(
            "SELECT {EVAL_COLUMNS} FROM eval_runs
             WHERE repo = ?1 AND head_sha = ?2 AND superseded_by IS NULL
               AND status IN ('PENDING', 'RUNNING')"
        ),
        params![repo, head_sha],
        eval_from_row,
    )?)
}

/// Remembers the GitHub check run created for an eval run.
pub fn set_check_run_id(conn: Conn<'_>, id: &str, check_run_id: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE eval_runs SET check_run_id = ?2 WHERE id = ?1",
        params![id, check_run_id],
    )?;
    Ok(())
}

/// The GitHub check run created for an eval run, once GitHub has answered.
pub fn check_run_id(conn: Conn<'_>, id: &str) -> AppResult<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT check_run_id FROM eval_runs WHERE id = ?1",
            params![id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Keeps the Markdown summary the platform sent with a status (it fills the check run).
pub fn set_summary(conn: Conn<'_>, id: &str, summary: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE eval_runs SET summary = ?2 WHERE id = ?1",
        params![id, summary],
    )?;
    Ok(())
}

/// The Markdown summary last sent for an eval run.
pub fn summary(conn: Conn<'_>, id: &str) -> AppResult<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT summary FROM eval_runs WHERE id = ?1",
            params![id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Keeps an eval run's newest results: its score, and its metrics and cases as JSON (see
/// `domain::eval_results`).
pub fn set_results(conn: Conn<'_>, id: &str, score: Option<f64>, results: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE eval_runs SET score = ?2, results = ?3 WHERE id = ?1",
        params![id, score, results],
    )?;
    Ok(())
}

/// An eval run's results as stored (JSON), if its runner reported any.
pub fn results(conn: Conn<'_>, id: &str) -> AppResult<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT results FROM eval_runs WHERE id = ?1",
            params![id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// The run an eval run's results are compared with.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub id: String,
    /// The merged pull request it evaluated.
    pub number: i64,
    pub head_sha: String,
    /// Its results as stored (JSON).
    pub results: String,
}

/// The baseline of `run`: the newest SUCCEEDED eval run with results of the same repository,
/// not superseded and not `run` itself, of a push to the base branch when `from_pushes`
/// (`eval.on_push`: number 0), else of a pull request merged into it (a deployment names it).
pub fn baseline(conn: Conn<'_>, run: &EvalRun, from_pushes: bool) -> AppResult<Option<Baseline>> {
    let which = if from_pushes {
        "r.number = 0"
    } else {
        "r.number > 0 AND EXISTS (SELECT 1 FROM deployments d WHERE d.repo = r.repo AND d.pr_number = r.number)"
    };
    Ok(conn.query_opt(
        &format!(
            "SELECT r.id, r.number, r.head_sha, r.results FROM eval_runs r
             WHERE r.repo = ?1 AND r.status = 'SUCCEEDED' AND r.id != ?2
               AND r.results IS NOT NULL AND r.superseded_by IS NULL AND {which}
             ORDER BY r.updated_at DESC, r.id DESC LIMIT 1"
        ),
        params![run.repo, run.id],
        |r| {
            Ok(Baseline {
                id: r.get(0)?,
                number: r.get(1)?,
                head_sha: r.get(2)?,
                results: r.get(3)?,
            })
        },
    )?)
}

/// Remembers the GitHub deployment created for a deployment.
pub fn set_remote_id(conn: Conn<'_>, id: &str, remote_id: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE deployments SET remote_id = ?2 WHERE id = ?1",
        params![id, remote_id],
    )?;
    Ok(())
}

/// The table of a kind of run.
fn table(kind: RunKind) -> &'static str {
    match kind {
        RunKind::EvalRun => "eval_runs",
        RunKind::Deployment => "deployments",
    }
}

fn list_where(kind: RunKind, columns: &str) -> String {
    format!(
        "SELECT {columns} FROM {} WHERE (CAST(?1 AS TEXT) IS NULL OR integration_id = ?1)
           AND (CAST(?2 AS TEXT) IS NULL OR repo = lower(?2)) AND (CAST(?3 AS TEXT) IS NULL OR status = ?3)
           AND (CAST(?4 AS BIGINT) IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?5))
         ORDER BY created_at DESC, id DESC LIMIT ?6",
        table(kind)
    )
}

fn list_rows<T>(
    conn: Conn<'_>,
    kind: RunKind,
    columns: &str,
    f: &RunFilter,
    read: fn(&Row<'_>) -> DbResult<T>,
) -> AppResult<Vec<T>> {
    let before = f.before.as_ref();
    Ok(conn.query_map(
        &list_where(kind, columns),
        params![
            f.integration_id,
            f.repo,
            f.status,
            before.map(|b| b.0),
            before.map(|b| b.1.as_str()),
            f.limit
        ],
        read,
    )?)
}

pub fn list_eval_runs(conn: Conn<'_>, f: &RunFilter) -> AppResult<Vec<EvalRun>> {
    list_rows(conn, RunKind::EvalRun, EVAL_COLUMNS, f, eval_from_row)
}

pub fn list_deployments(conn: Conn<'_>, f: &RunFilter) -> AppResult<Vec<Deployment>> {
    list_rows(
        conn,
        RunKind::Deployment,
        DEPLOY_COLUMNS,
        f,
        deploy_from_row,
    )
}

/// What is asked of a run of either kind before acting on it: whose it is, which commit, and
/// where it stands.
#[derive(Debug, Clone)]
pub struct Facts {
    pub integration_id: String,
    pub repo: String,
    /// The commit evaluated (`head_sha`) or deployed (`commit_sha`).
    pub sha: String,
    pub status: RunStatus,
    /// An eval run replaced by a newer head commit (never a deployment).
    pub superseded: bool,
}

/// A run's [`Facts`]; None when there is no such run.
pub fn facts(conn: Conn<'_>, kind: RunKind, id: &str) -> AppResult<Option<Facts>> {
    let (sha, superseded) = match kind {
        RunKind::EvalRun => (
            "head_sha",
            "CAST(CASE WHEN superseded_by IS NULL THEN 0 ELSE 1 END AS BIGINT)",
        ),
        RunKind::Deployment => ("commit_sha", "CAST(0 AS BIGINT)"),
    };
    Ok(conn.query_opt(
        &format!(
            "SELECT integration_id, repo, {sha}, status, {superseded} FROM {} WHERE id = ?1",
            table(kind)
        ),
        params![id],
        |r| {
            Ok(Facts {
                integration_id: r.get(0)?,
                repo: r.get(1)?,
                sha: r.get(2)?,
                status: r.get(3)?,
                superseded: r.get(4)?,
            })
        },
    )?)
}

pub fn get_eval_run(conn: Conn<'_>, id: &str) -> AppResult<EvalRun> {
    conn.query_row(
        &format!("SELECT {EVAL_COLUMNS} FROM eval_runs WHERE id = ?1"),
        params![id],
        eval_from_row,
    )
    .map_err(super::not_found("eval run"))
}

pub fn get_deployment(conn: Conn<'_>, id: &str) -> AppResult<Deployment> {
    conn.query_row(
        &format!("SELECT {DEPLOY_COLUMNS} FROM deployments WHERE id = ?1"),
        params![id],
        deploy_from_row,
    )
    .map_err(super::not_found("deployment"))
}

/// Moves a run's status if the transition is allowed; returns the previous status.
pub fn set_status(
    conn: Conn<'_>,
    kind: RunKind,
    id: &str,
    next: RunStatus,
    now: i64,
) -> AppResult<RunStatus> {
    let current: Option<RunStatus> = conn.query_opt(
        &format!("SELECT status FROM {} WHERE id = ?1", table(kind)),
        params![id],
        |r| r.get(0),
    )?;
    let current = current.ok_or(AppError::NotFound(kind.what()))?;
    if current == next {
        return Ok(current);
    }
    if !current.can_become(next) {
        return Err(AppError::Conflict(format!(
            "a {} that is {} cannot become {}",
            kind.what(),
            current.as_str(),
            next.as_str()
        )));
    }
    conn.execute(
        &format!(
            "UPDATE {} SET status = ?2, updated_at = ?3 WHERE id = ?1",
            table(kind)
        ),
        params![id, next, now],
    )?;
    Ok(current)
}

/// A run found past its `timeout_at` by [`overdue`].
pub struct Overdue {
    pub kind: RunKind,
    pub id: String,
    /// How long it was given (`timeout_at` − `created_at`), in milliseconds.
    pub timeout_ms: i64,
}

/// Runs still PENDING or RUNNING past their `timeout_at`, oldest deadline first, at most
/// `limit` of each kind. A superseded eval run is left: its commit already says so, and its
/// runner was told to stop.
pub fn overdue(conn: Conn<'_>, now: i64, limit: u32) -> AppResult<Vec<Overdue>> {
    let mut found = Vec::new();
    for (kind, only_current) in [
        (RunKind::EvalRun, "AND superseded_by IS NULL"),
        (RunKind::Deployment, ""),
    ] {
        let rows = conn.query_map(
            &format!(
                "SELECT id, timeout_at - created_at FROM {}
                 WHERE status IN ('PENDING', 'RUNNING') AND timeout_at <= ?1 {only_current}
                 ORDER BY timeout_at LIMIT ?2",
                table(kind)
            ),
            params![now, limit],
            |r| {
                Ok(Overdue {
                    kind,
                    id: r.get(0)?,
                    timeout_ms: r.get(1)?,
                })
            },
        )?;
        found.extend(rows);
    }
    Ok(found)
}
