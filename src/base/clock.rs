//! Time as stored (Unix milliseconds) and as shown (RFC 3339, UTC), read through one seam.
//!
//! Everything the server decides by time (retries falling due, signature windows, retention,
//! destination pauses) asks a [`Clock`]. In production it is the system clock; tests hold a
//! handle to the same clock and jump it forward, instead of waiting minutes or days.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

type JumpListener = Box<dyn Fn() + Send + Sync>;

/// The server's clock: the system time plus an offset that only tests move. Clones share it.
#[derive(Clone, Default)]
pub struct Clock(Arc<Inner>);

struct Inner {
    offset_ms: AtomicI64,
    /// When not `UNPINNED`, the time stands still here (tests at the edge of a window).
    pinned_ms: AtomicI64,
    /// Told after a jump, so threads sleeping until something falls due look again.
    on_jump: Mutex<Vec<JumpListener>>,
}

const UNPINNED: i64 = i64::MIN;

impl Default for Inner {
    fn default() -> Self {
        Inner {
            offset_ms: AtomicI64::new(0),
            pinned_ms: AtomicI64::new(UNPINNED),
            on_jump: Mutex::default(),
        }
    }
}

impl Clock {
    /// The system clock, unshifted.
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now_ms(&self) -> i64 {
        match self.0.pinned_ms.load(Ordering::Relaxed) {
            UNPINNED => system_ms().saturating_add(self.0.offset_ms.load(Ordering::Relaxed)),
            pinned => pinned,
        }
    }

    /// Makes `by` pass at once (tests: retries, signature windows, retention).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.offset_ms.fetch_add(ms, Ordering::Relaxed);
        let _ = self
            .0
            .pinned_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                (p != UNPINNED).then(|| p.saturating_add(ms))
            });
        self.jumped();
    }

    /// Stops the clock at `ms` (Unix milliseconds) until [`Clock::resume`]: a test can then
    /// stand exactly at the edge of a window.
    pub fn pin(&self, ms: i64) {
        self.0.pinned_ms.store(ms, Ordering::Relaxed);
        self.jumped();
    }

    /// Lets the clock run again from where it was pinned.
    pub fn resume(&self) {
        let pinned = self.0.pinned_ms.swap(UNPINNED, Ordering::Relaxed);
        if pinned != UNPINNED {
            self.0
                .offset_ms
                .store(pinned.saturating_sub(system_ms()), Ordering::Relaxed);
        }
        self.jumped();
    }

    fn jumped(&self) {
        if let Ok(listeners) = self.0.on_jump.lock() {
            for listener in listeners.iter() {
                listener();
            }
        }
    }

    /// Calls `listener` after every jump of this clock.
    pub fn on_jump(&self, listener: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.0.on_jump.lock() {
            listeners.push(Box::new(listener));
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("offset_ms", &self.0.offset_ms.load(Ordering::Relaxed))
            .finish()
    }
}

/// The system time. Server code asks its [`Clock`] instead, so that tests can move it.
pub fn system_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    (nanos / 1_000_000) as i64
}

/// `2026-11-28T22:34:24.123Z`: millisecond precision, always UTC, always the same width.
pub fn rfc3339(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::Clock;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_795_905_264_123),
            "2026-11-28T22:34:24.123Z"
        );
    }

    #[test]
    fn a_jump_moves_every_clone_and_tells_listeners() {
        let clock = Clock::system();
        let copy = clock.clone();
        let told = Arc::new(AtomicUsize::new(0));
        {
            let told = told.clone();
            clock.on_jump(move || {
                told.fetch_add(1, Ordering::SeqCst);
            });
        }
        let before = copy.now_ms();
        clock.advance(Duration::from_secs(86_400));
        let after = copy.now_ms();
        assert!(after - before >= 86_400_000, "{before} → {after}");
        assert!(after - before < 86_400_000 + 5_000);
        assert_eq!(told.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_pinned_clock_stands_still_moves_by_jumps_and_runs_on_from_there() {
        let clock = Clock::system();
        clock.pin(1_000_000);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now_ms(), 1_000_000);
        clock.advance(Duration::from_millis(1));
        assert_eq!(clock.now_ms(), 1_000_001);
        clock.resume();
        let now = clock.now_ms();
        assert!((1_000_001..1_010_000).contains(&now), "{now}");
    }
}
