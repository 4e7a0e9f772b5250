//! The installation itself: the data folder, the database, the disk under it, the certificate.

use std::path::Path;

use super::{Check, Subject};
use crate::db;
use crate::tls::EXPIRY_WARNING_DAYS;

/// A database that leaves less room than this many days of deliveries is a problem.
const MIN_DAYS_OF_ROOM: u64 = 14;

pub(super) fn check(subject: &Subject) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(folder) = &subject.data_dir {
        checks.push(data_folder(folder));
    }
    checks.extend(database(subject));
    if let Some(certificate) = &subject.certificate {
        checks.push(tls(
            certificate,
            &subject.public_url,
            subject.clock.now_ms() / 1000,
        ));
    }
    checks
}

fn data_folder(folder: &Path) -> Check {
    let subject = format!("data folder {}", folder.display());
    let meta = match std::fs::metadata(folder) {
        Ok(meta) => meta,
        Err(e) => {
            return Check::fail(
                subject,
                format!("cannot be read: {e}"),
                "start the server once to create it, or give --data-dir",
            );
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        // Root reads any folder; what matters then is only that others cannot.
        if me != 0 && meta.uid() != me {
            return Check::fail(
                subject,
                format!("owned by user {}, not by this user ({me})", meta.uid()),
                format!(
                    "run doctor as the server's user, or `chown -R <server user> {}`",
                    folder.display()
                ),
            );
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Check::fail(
                subject,
                format!(
                    "others may read it (mode {mode:o}): it holds the database, the API token and the master key"
                ),
                format!("chmod 700 {}", folder.display()),
            );
        }
        let owner = if meta.uid() == me {
            "owned by this user".to_string()
        } else {
            format!("owned by user {}", meta.uid())
        };
        Check::pass(subject, format!("{owner}, private (mode {mode:o})"))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Check::pass(subject, "present")
    }
}

fn database(subject: &Subject) -> Vec<Check> {
    let name = format!("database {}", subject.database.describe());
    let Some(pool) = &subject.pool else {
        return Vec::new();
    };
    let current = db::migrate::CURRENT_VERSION;
    let version = subject.schema_version;
    if version != current {
        let fix = if version < current {
            "start the server with this binary once: it migrates at start (take a backup first)"
        } else {
            "run the newer binary that wrote it, or restore a backup"
        };
        return vec![Check::fail(
            name,
            format!("schema version {version}; this binary is at {current}"),
            fix,
        )];
    }
    let read = pool.get().map_err(|e| e.to_string()).and_then(|pooled| {
        let conn = pooled.conn();
        let integrity = db::checkup::quick_check(conn).map_err(|e| e.to_string())?;
        let size = match subject.database.file() {
            Some(path) => crate::base::files::sqlite_file_bytes(path)
                .iter()
                .map(|(_, n)| n)
                .sum(),
            None => db::storage::database_bytes(conn)
                .map_err(|e| e.to_string())?
                .unwrap_or(0) as u64,
        };
        let day_ago = subject.clock.now_ms() - 86_400_000;
        let per_day = db::checkup::bytes_received_since(conn, day_ago)
            .map_err(|e| e.to_string())?
            .max(0) as u64;
        Ok((integrity, size, per_day))
    });
    let (integrity, size, per_day) = match read {
        Ok(found) => found,
        Err(e) => {
            return vec![Check::fail(
                name,
                format!("cannot be read: {e}"),
                "see the server log; is another process holding it, or the disk full?",
            )];
        }
    };
    let mut checks = vec![if integrity == "ok" {
        Check::pass(
            name.clone(),
            format!(
                "schema version {version}, intact ({}), {}",
                if subject.database.is_postgres() {
                    "PostgreSQL answers"
                } else {
                    "quick_check ok"
                },
                human_bytes(size)
            ),
        )
    } else {
        Check::fail(
            name.clone(),
            format!("quick_check found damage: {integrity}"),
            "stop the server, restore the last backup (`provenant backup` makes them), and keep the damaged file for a look",
        )
    }];
    match subject.database.file() {
        Some(path) => checks.push(disk(path, per_day)),
        None => checks.push(Check::pass(
            "disk",
            format!(
                "about {} a day arrives; the PostgreSQL server's disk is not visible from here: watch it there",
                human_bytes(per_day.saturating_mul(2))
            ),
        )),
    }
    checks
}

fn disk(database: &Path, per_day: u64) -> Check {
    let folder = database.parent().unwrap_or(Path::new("."));
    let subject = format!("disk under {}", folder.display());
    let free = match rustix::fs::statvfs(folder) {
        Ok(stat) => stat.f_bavail.saturating_mul(stat.f_frsize),
        Err(e) => {
            return Check::fail(
                subject,
                format!("free space cannot be read: {e}"),
                "check the file system",
            );
        }
    };
    // Growth: what arrived in the last day, stored, plus about as much again for indexes,
    // rows and the write-ahead log.
    let growth = per_day.saturating_mul(2);
    let days = free.checked_div(growth);
    let found = match days {
        Some(days) => format!(
            "{} free; about {} a day arrives: room for about {days} days",
            human_bytes(free),
            human_bytes(growth)
        ),
        None => format!(
            "{} free; nothing arrived in the last day",
            human_bytes(free)
        ),
    };
    match days {
        Some(days) if days < MIN_DAYS_OF_ROOM => Check::fail(
            subject,
            found,
            "make room, give the data folder a larger disk, or shorten --retention-days",
        ),
        _ => Check::pass(subject, found),
    }
}

fn tls(
    certificate: &Result<crate::tls::certs::About, String>,
    public_url: &str,
    now: i64,
) -> Check {
    let about = match certificate {
        Ok(about) => about,
        Err(e) => {
            return Check::fail(
                "TLS certificate",
                e.clone(),
                "check --tls-cert and --tls-key, or the ACME settings and the server log",
            );
        }
    };
    let names = about.names.join(", ");
    let days = (about.not_after - now).div_euclid(86_400);
    let host = crate::domain::hosts::host_of(public_url).unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default().to_string();
    if about.not_after <= now {
        return Check::fail(
            "TLS certificate",
            format!("for {names}: expired"),
            "replace the certificate files (or see the server log for why ACME did not renew it)",
        );
    }
    if days < EXPIRY_WARNING_DAYS {
        return Check::fail(
            "TLS certificate",
            format!("for {names}: expires in {days} days"),
            "renew it now (certbot renew; the server reloads the files by itself)",
        );
    }
    if !host.is_empty() && !about.names.iter().any(|n| names_match(n, &host)) {
        return Check::fail(
            "TLS certificate",
            format!("for {names}, not for {host}, the public URL's host"),
            "get a certificate for the public URL's name, or fix --public-url",
        );
    }
    Check::pass(
        "TLS certificate",
        format!("for {names}, valid for {days} more days"),
    )
}

/// A certificate name (maybe `*.example.com`) against a host.
fn names_match(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent)),
        None => name.eq_ignore_ascii_case(host),
    }
}

pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert!(names_match("*.example.com", "hooks.example.com"));
        assert!(!names_match("*.example.com", "example.com"));
        assert!(names_match("Hooks.example.com", "hooks.example.com"));
    }
}
