//! Failed sign-ins counted per source and in total, so a token cannot be guessed at speed,
//! from one address or from many: after `limit` failures in a minute from one source, or
//! `total_limit` from all of them together, further attempts get 429 on everything that needs
//! a token until the minute is over. A refused source is refused even with a right token, or
//! the answer would tell a right guess from a wrong one.
//!
//! A source is an IPv4 address or an IPv6 /64 (one subscriber's network: counting single
//! IPv6 addresses would give an attacker 2^64 fresh starts). Counted per node, in memory, for
//! at most `MAX_SOURCES` sources: when that many are counted, the ones whose minute is over go
//! first, then the oldest.
//!
//! Failed token sign-ins are audited once per source and minute, with their count, when that
//! minute ends ([`Throttle::take_ended`]), never once per request. The receiver never consults
//! it (senders prove themselves with signatures, and must never be turned away).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// Sources counted at once (about 60 bytes each).
pub const MAX_SOURCES: usize = 10_000;
pub const WINDOW_MS: i64 = 60_000;
/// Failures a minute before a source is refused.
pub const DEFAULT_LIMIT: u32 = 20;
/// Failures a minute from every source together before all are refused.
pub const DEFAULT_TOTAL_LIMIT: u32 = 200;
/// Ended minutes kept for their audit entry; past it the oldest are dropped (the flush runs
/// every few seconds, so this is reached only when storage refuses writes).
const MAX_PENDING: usize = 10_000;

/// The source a failure is counted against: an IPv4 address, or the /64 of an IPv6 one.
pub fn source_of(ip: Option<IpAddr>) -> Option<IpAddr> {
    ip.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    })
}

/// How a source is written in the audit log: an address, or `2001:db8:1:2::/64`.
pub fn source_text(source: Option<IpAddr>) -> String {
    match source {
        Some(IpAddr::V6(v6)) => format!("{v6}/64"),
        Some(v4) => v4.to_string(),
        None => String::new(),
    }
}

/// One source's failed token sign-ins in one minute, for its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedMinute {
    pub source: Option<IpAddr>,
    pub started_at: i64,
    pub last_at: i64,
    pub failures: u32,
}

pub struct Throttle {
    limit: u32,
    total_limit: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sources: HashMap<Option<IpAddr>, Window>,
    total: Window,
    /// Ended minutes whose audit entry is still to be written.
    pending: Vec<EndedMinute>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    started_at: i64,
    failures: u32,
    /// Failed token sign-ins in this window (to be audited when it ends).
    audited: u32,
    last_at: i64,
}

impl Window {
    fn ends(&self) -> i64 {
        self.started_at + WINDOW_MS
    }
}

impl State {
    /// Moves a source's ended window into `pending` (when it holds failures to audit).
    fn end(&mut self, source: Option<IpAddr>, window: Window) {
        if window.audited == 0 {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(EndedMinute {
            source,
            started_at: window.started_at,
            last_at: window.last_at,
            failures: window.audited,
        });
    }
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle::with_total(limit, DEFAULT_TOTAL_LIMIT.max(limit))
    }

    pub fn with_total(limit: u32, total_limit: u32) -> Throttle {
        Throttle {
            limit: limit.max(1),
            total_limit: total_limit.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds until `ip` may try again, when it is refused now: its source failed `limit`
    /// times this minute, or all sources together `total_limit` times.
    pub fn refused(&self, ip: Option<IpAddr>, now: i64) -> Option<u64> {
        let source = source_of(ip);
        let state = self.state();
        let wait = |w: &Window| ((w.ends() - now + 999) / 1000).max(1) as u64;
        let mine = state
            .sources
            .get(&source)
            .filter(|w| w.failures >= self.limit && now < w.ends())
            .map(wait);
        let all = (state.total.failures >= self.total_limit && now < state.total.ends())
            .then(|| wait(&state.total));
        mine.max(all)
    }

    /// Counts a failed attempt from `ip`; `audit_later`: a failed token, audited with its
    /// minute's count when the minute ends (a refused SSO sign-in writes its own entry).
    pub fn failed(&self, ip: Option<IpAddr>, now: i64, audit_later: bool) {
        let source = source_of(ip);
        let mut state = self.state();
        if now >= state.total.ends() || state.total.failures == 0 {
            state.total = Window {
                started_at: now,
                ..Window::default()
            };
        }
        state.total.failures = state.total.failures.saturating_add(1);
        if !state.sources.contains_key(&source) && state.sources.len() >= MAX_SOURCES {
            let ended: Vec<_> = state
                .sources
                .iter()
                .filter(|(_, w)| now >= w.ends())
                .map(|(k, w)| (*k, *w))
                .collect();
            for (k, w) in ended {
                state.sources.remove(&k);
                state.end(k, w);
            }
            if state.sources.len() >= MAX_SOURCES
                && let Some((oldest, w)) = state
                    .sources
                    .iter()
                    .min_by_key(|(_, w)| w.started_at)
                    .map(|(k, w)| (*k, *w))
            {
                state.sources.remove(&oldest);
                state.end(oldest, w);
            }
        }
        let window = *state.sources.entry(source).or_insert(Window {
            started_at: now,
            ..Window::default()
        });
        let mut window = if now >= window.ends() {
            state.end(source, window);
            Window {
                started_at: now,
                ..Window::default()
            }
        } else {
            window
        };
        window.failures = window.failures.saturating_add(1);
        window.last_at = now;
        if audit_later {
            window.audited = window.audited.saturating_add(1);
        }
        state.sources.insert(source, window);
    }

    /// The minutes that ended by `now` with failed token sign-ins, each once: what their
    /// audit entries say. `all`: every minute, ended or not (at shutdown).
    pub fn take_ended(&self, now: i64, all: bool) -> Vec<EndedMinute> {
        let mut state = self.state();
        let ended: Vec<_> = state
            .sources
            .iter()
            .filter(|(_, w)| w.audited > 0 && (all || now >= w.ends()))
            .map(|(k, w)| (*k, *w))
            .collect();
        for (source, window) in ended {
            state.end(source, window);
            if let Some(w) = state.sources.get_mut(&source) {
                w.audited = 0;
            }
        }
        std::mem::take(&mut state.pending)
    }

    /// Sources counted now.
    pub fn len(&self) -> usize {
        self.state().sources.len()
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

    fn v6(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ipv6"))
    }

    #[test]
    fn an_address_is_refused_after_the_limit_until_its_minute_ends() {
        let t = Throttle::new(3);
        for _ in 0..2 {
            t.failed(ip(1), 1_000, true);
        }
        assert_eq!(t.refused(ip(1), 1_000), None);
        t.failed(ip(1), 2_000, true);
        assert_eq!(t.refused(ip(1), 2_000), Some(59));
        assert_eq!(
            t.refused(ip(2), 2_000),
            None,
            "another address is not refused"
        );
        assert_eq!(t.refused(ip(1), 61_000), None, "the minute is over");
        t.failed(ip(1), 61_000, true);
        assert_eq!(t.refused(ip(1), 61_000), None, "a new minute counts afresh");
    }

    #[test]
    fn many_sources_together_are_refused_at_the_total_cap() {
        let t = Throttle::with_total(20, 50);
        for n in 0..50 {
            t.failed(ip(n), 1_000, true);
        }
        assert_eq!(t.refused(ip(999), 1_000), Some(60), "every source, now");
        assert_eq!(t.refused(ip(999), 61_000), None);
    }

    #[test]
    fn an_ipv6_network_is_one_source() {
        let t = Throttle::new(2);
        t.failed(v6("2001:db8:1:2::1"), 0, true);
        t.failed(v6("2001:db8:1:2:ffff::9"), 0, true);
        assert!(t.refused(v6("2001:db8:1:2:abcd::1"), 0).is_some());
        assert_eq!(t.refused(v6("2001:db8:1:3::1"), 0), None, "another /64");
        assert_eq!(
            source_text(source_of(v6("2001:db8:1:2:abcd::1"))),
            "2001:db8:1:2::/64"
        );
        assert_eq!(source_of(v6("::ffff:192.0.2.1")), ip(0xC000_0201));
    }

    #[test]
    fn a_sources_minute_is_audited_once_with_its_count_when_it_ends() {
        let t = Throttle::new(100);
        for at in [1_000, 2_000, 3_000] {
            t.failed(ip(1), at, true);
        }
        t.failed(ip(1), 4_000, false);
        assert_eq!(t.take_ended(30_000, false), vec![], "not over yet");
        let ended = t.take_ended(61_000, false);
        assert_eq!(
            ended,
            vec![EndedMinute {
                source: ip(1),
                started_at: 1_000,
                last_at: 4_000,
                failures: 3
            }]
        );
        assert_eq!(t.take_ended(200_000, false), vec![], "once");
        // A minute that rolls over on the next failure is kept for the next flush.
        t.failed(ip(2), 300_000, true);
        t.failed(ip(2), 400_000, true);
        assert_eq!(t.take_ended(400_001, false).len(), 1);
        assert_eq!(
            t.take_ended(400_001, true).len(),
            1,
            "at shutdown, the open one too"
        );
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let t = Throttle::with_total(3, u32::MAX);
        for n in 0..(MAX_SOURCES as u32 + 500) {
            t.failed(ip(n), i64::from(n), true);
        }
        assert_eq!(t.len(), MAX_SOURCES);
        assert!(!t.is_empty());
    }
}
