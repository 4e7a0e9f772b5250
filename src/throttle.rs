//! Failed sign-ins counted per source address, so a token cannot be guessed at speed: after
//! `limit` failures in a minute, that address gets 429 on everything that needs a token until
//! its minute is over. A blocked address is refused even with a right token, or the answer
//! would tell a right guess from a wrong one.
//!
//! Counted per node, in memory, for at most `MAX_SOURCES` addresses: when that many are
//! counted, the ones whose minute is over go first, then the oldest. The receiver never
//! consults it (senders prove themselves with signatures, and must never be turned away).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Addresses counted at once (about 40 bytes each).
pub const MAX_SOURCES: usize = 10_000;
pub const WINDOW_MS: i64 = 60_000;
/// Failures a minute before an address is refused.
pub const DEFAULT_LIMIT: u32 = 20;

pub struct Throttle {
    limit: u32,
    sources: Mutex<HashMap<Option<IpAddr>, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_at: i64,
    failures: u32,
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle {
            limit: limit.max(1),
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, HashMap<Option<IpAddr>, Window>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds until `source` may try again, when it is refused now.
    pub fn refused(&self, source: Option<IpAddr>, now: i64) -> Option<u64> {
        let sources = self.sources();
        let window = sources.get(&source)?;
        let ends = window.started_at + WINDOW_MS;
        (window.failures >= self.limit && now < ends)
            .then(|| ((ends - now + 999) / 1000).max(1) as u64)
    }

    /// Counts a failed attempt from `source`.
    pub fn failed(&self, source: Option<IpAddr>, now: i64) {
        let mut sources = self.sources();
        if !sources.contains_key(&source) && sources.len() >= MAX_SOURCES {
            sources.retain(|_, w| now < w.started_at + WINDOW_MS);
            if sources.len() >= MAX_SOURCES
                && let Some(oldest) = sources
                    .iter()
                    .min_by_key(|(_, w)| w.started_at)
                    .map(|(k, _)| *k)
            {
                sources.remove(&oldest);
            }
        }
        let window = sources.entry(source).or_insert(Window {
            started_at: now,
            failures: 0,
        });
        if now >= window.started_at + WINDOW_MS {
            *window = Window {
                started_at: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    /// Addresses counted now.
    pub fn len(&self) -> usize {
        self.sources().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn an_address_is_refused_after_the_limit_until_its_minute_ends() {
        let t = Throttle::new(3);
        for _ in 0..2 {
            t.failed(ip(1), 1_000);
        }
        assert_eq!(t.refused(ip(1), 1_000), None);
        t.failed(ip(1), 2_000);
        assert_eq!(t.refused(ip(1), 2_000), Some(59));
        assert_eq!(
            t.refused(ip(2), 2_000),
            None,
            "another address is not refused"
        );
        assert_eq!(t.refused(ip(1), 61_000), None, "the minute is over");
        t.failed(ip(1), 61_000);
        assert_eq!(t.refused(ip(1), 61_000), None, "a new minute counts afresh");
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let t = Throttle::new(3);
        for n in 0..(MAX_SOURCES as u32 + 500) {
            t.failed(ip(n), i64::from(n));
        }
        assert_eq!(t.len(), MAX_SOURCES);
        assert!(!t.is_empty());
    }
}
