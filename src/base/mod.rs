//! Layer 0: what everything stands on, naming no integration, table or request: the clock, durations as written, retry schedules, data-folder files, console and log lines, crash points, metric counters, the error type.

pub mod clock;
pub mod console;
pub mod crashpoint;
pub mod duration;
pub mod error;
pub mod files;
pub mod log_lines;
pub mod metrics;
pub mod retry;
