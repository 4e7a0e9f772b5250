//! Files the server writes for itself in the data folder.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

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
