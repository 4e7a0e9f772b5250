//! Files the server writes for itself in the data folder.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

/// Creates `path` (which must not exist yet) readable and writable by the owner only, and
/// syncs it: used for the API token and the master key.
pub fn write_owner_only(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Creates the data folder if it is missing, readable by the owner only: it holds the
/// database (configs, payloads), the API token and the master key.
pub fn create_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    if data_dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", data_dir.display()))?;
    }
    Ok(())
}

/// The files of a data folder that hold secrets or data: the database and its WAL, the API
/// token, the master key, the lock.
const PRIVATE_FILES: &[&str] = &[
    "provenant.db",
    "provenant.db-wal",
    "provenant.db-shm",
    "api-token",
    "master-key",
    "lock",
];

/// Makes the data folder owner-only (0700) and its files owner-only (0600), whether they were
/// created by this server or existed before (a folder made by hand with 0755, files copied in
/// with 0644). Creates the database file first if it is missing, so SQLite's WAL and shared-
/// memory files, which copy its mode, are born owner-only too. Runs at every start; what cannot
/// be set is warned about (a read-only folder is reported when the database opens). With the
/// database elsewhere (PostgreSQL, `with_database` false), no database file is made.
pub fn restrict_data_dir(data_dir: &Path, with_database: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let set = |path: &Path, mode: u32| {
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %path.display(), error = %e, "could not make it owner-only ({mode:o}): other local users may read it");
            }
        };
        set(data_dir, 0o700);
        let db = data_dir.join(PRIVATE_FILES[0]);
        if with_database && !db.exists() {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&db);
        }
        for name in PRIVATE_FILES {
            let path = data_dir.join(name);
            if path.exists() {
                set(&path, 0o600);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, with_database);
}

/// Held while a server uses a data folder. A second server on the same folder would run a
/// second worker and, at its start, put the first one's in-flight events back in the queue.
pub struct DataDirLock {
    _file: std::fs::File,
}

pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = data_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another provenant is already using {}; stop it or choose another --data-dir",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}
/// The sizes of a SQLite database's file and its write-ahead log, in bytes (0 for a file that
/// is not there), labelled `database` and `wal`.
pub fn sqlite_file_bytes(path: &std::path::Path) -> [(&'static str, u64); 2] {
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    [("database", size(path)), ("wal", size(&wal))]
}
