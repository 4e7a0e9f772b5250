//! How hard a commit waits for the disk: a storage setting, owned by storage. The command line
//! reads it (`--sync`), and every connection is opened with it.

/// SQLite's `synchronous` for the delivery writer and every other connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Every commit reaches the disk before it returns: an accepted delivery survives a power
    /// cut.
    Full,
    /// Commits reach the disk at checkpoints: faster, and an accepted delivery survives a crash
    /// of the process but not of the machine.
    Normal,
}

impl SyncMode {
    pub fn pragma(self) -> &'static str {
        match self {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        }
    }
}
