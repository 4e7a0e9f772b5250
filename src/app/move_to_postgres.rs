//! `provenant migrate-to-postgres --data-dir … --database-url …`: moving a SQLite installation
//! up to PostgreSQL, for several nodes. The server must be stopped (the data folder's lock is
//! taken for the copy), the database must be empty, and the copy is checked table by table.

use std::path::Path;

use anyhow::Context;

use crate::db;

pub fn run(data_dir: &Path, database_url: &str) -> anyhow::Result<()> {
    if !data_dir.is_dir() {
        anyhow::bail!("there is no data folder at {}", data_dir.display());
    }
    // A server still running would go on writing to the file after the copy.
    let _lock = crate::base::files::lock_data_dir(data_dir)
        .context("stop the server on this data folder first")?;
    let from = db::Location::in_data_dir(data_dir);
    let to = db::Location::postgres(database_url).context("--database-url")?;
    eprintln!("copying {} into {}", from.describe(), to.describe());
    let copied = db::copy::sqlite_to_postgres(&from, &to, |done| {
        eprintln!("  {:<20} {:>10} rows", done.table, done.rows);
    })?;
    let total: i64 = copied.iter().map(|c| c.rows).sum();
    eprintln!(
        "copied {total} rows; every table's count matches. Start the nodes with --database-url \
         and the master key this folder holds ({}): the secrets are still encrypted with it. \
         The SQLite file is left as it was; do not start a server on it again, or it would \
         take deliveries the nodes never see.",
        data_dir.join("master-key").display()
    );
    Ok(())
}
