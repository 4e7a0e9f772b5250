//! Every SQL statement that touches `github_installations` and `github_installation_repos`:
//! the installations of a GitHub App that an integration has heard of, the account each is on,
//! and the repositories each one shows.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// An installation, with the repositories it shows (sorted).
#[derive(Debug, Clone, PartialEq)]
pub struct Installation {
    pub installation_id: i64,
    /// The lower-case login of the organisation or user.
    pub account: String,
    pub suspended_at: Option<i64>,
    pub updated_at: i64,
    pub repos: Vec<String>,
}

/// Notes that `installation_id` is on `account`, as a delivery says; an installation already
/// known keeps what it has.
pub fn remember(
    conn: Conn<'_>,
    integration_id: &str,
    installation_id: i64,
    account: &str,
    now: i64,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO github_installations (integration_id, installation_id, account, updated_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        params![
            integration_id,
            installation_id,
            account.to_ascii_lowercase(),
            now
        ],
    )?;
    Ok(())
}

/// An installation was made (or its repositories were all listed): it shows exactly `repos`.
pub fn replace(
    conn: Conn<'_>,
    integration_id: &str,
    installation_id: i64,
    account: &str,
    repos: &[String],
    now: i64,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO github_installations (integration_id, installation_id, account, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration_id, installation_id)
         DO UPDATE SET account = excluded.account, updated_at = excluded.updated_at",
        params![
            integration_id,
            installation_id,
            account.to_ascii_lowercase(),
            now
        ],
    )?;
    conn.execute(
        "DELETE FROM github_installation_repos WHERE integration_id = ?1 AND installation_id = ?2",
        params![integration_id, installation_id],
    )?;
    add(conn, integration_id, installation_id, account, repos, now)
}

/// Repositories were added to an installation.
pub fn add(
    conn: Conn<'_>,
    integration_id: &str,
    installation_id: i64,
    account: &str,
    repos: &[String],
    now: i64,
) -> AppResult<()> {
    remember(conn, integration_id, installation_id, account, now)?;
    for repo in repos {
        conn.execute(
            "INSERT INTO github_installation_repos (integration_id, installation_id, repo, added_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![
                integration_id,
                installation_id,
                repo.to_ascii_lowercase(),
                now
            ],
        )?;
    }
    touch(conn, integration_id, installation_id, now)
}

/// Repositories were removed from an installation.
pub fn remove(
    conn: Conn<'_>,
    integration_id: &str,
    installation_id: i64,
    repos: &[String],
    now: i64,
) -> AppResult<()> {
    for repo in repos {
        conn.execute(
            "DELETE FROM github_installation_repos
             WHERE integration_id = ?1 AND installation_id = ?2 AND repo = ?3",
            params![integration_id, installation_id, repo.to_ascii_lowercase()],
        )?;
    }
    touch(conn, integration_id, installation_id, now)
}

/// The App was uninstalled: the installation and its repositories are forgotten.
pub fn delete(conn: Conn<'_>, integration_id: &str, installation_id: i64) -> AppResult<()> {
    conn.execute(
        "DELETE FROM github_installation_repos WHERE integration_id = ?1 AND installation_id = ?2",
        params![integration_id, installation_id],
    )?;
    conn.execute(
        "DELETE FROM github_installations WHERE integration_id = ?1 AND installation_id = ?2",
        params![integration_id, installation_id],
    )?;
    Ok(())
}

/// The installation was suspended (`Some(when)`) or unsuspended (`None`).
pub fn set_suspended(
    conn: Conn<'_>,
    integration_id: &str,
    installation_id: i64,
    suspended_at: Option<i64>,
    now: i64,
) -> AppResult<()> {
    conn.execute(
        "UPDATE github_installations SET suspended_at = ?3, updated_at = ?4
         WHERE integration_id = ?1 AND installation_id = ?2",
        params![integration_id, installation_id, suspended_at, now],
    )?;
    Ok(())
}

fn touch(conn: Conn<'_>, integration_id: &str, installation_id: i64, now: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE github_installations SET updated_at = ?3
         WHERE integration_id = ?1 AND installation_id = ?2",
        params![integration_id, installation_id, now],
    )?;
    Ok(())
}

/// The installation on `account`, if a delivery has named it.
pub fn on_account(conn: Conn<'_>, integration_id: &str, account: &str) -> AppResult<Option<i64>> {
    Ok(conn.query_opt(
        "SELECT installation_id FROM github_installations
         WHERE integration_id = ?1 AND account = ?2
         ORDER BY updated_at DESC LIMIT 1",
        params![integration_id, account.to_ascii_lowercase()],
        |r| r.get(0),
    )?)
}

/// Every installation the integration has heard of, by account, with its repositories.
pub fn list(conn: Conn<'_>, integration_id: &str) -> AppResult<Vec<Installation>> {
    let mut installations = conn.query_map(
        "SELECT installation_id, account, suspended_at, updated_at FROM github_installations
         WHERE integration_id = ?1 ORDER BY account, installation_id",
        params![integration_id],
        |r| {
            Ok(Installation {
                installation_id: r.get(0)?,
                account: r.get(1)?,
                suspended_at: r.get(2)?,
                updated_at: r.get(3)?,
                repos: vec![],
            })
        },
    )?;
    let repos: Vec<(i64, String)> = conn.query_map(
        "SELECT installation_id, repo FROM github_installation_repos
         WHERE integration_id = ?1 ORDER BY repo",
        params![integration_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (id, repo) in repos {
        if let Some(i) = installations.iter_mut().find(|i| i.installation_id == id) {
            i.repos.push(repo);
        }
    }
    Ok(installations)
}
