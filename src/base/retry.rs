//! The retry schedule, shared by event processing and the outbox: waits between attempts,
//! spread with jitter so that many retries do not arrive together.

use std::time::Duration;

/// Random spread applied to each wait: ±20 %.
const JITTER: f64 = 0.2;

/// The wait before the attempt after `attempts` failed ones (at least `at_least`, what the
/// remote asked for), or None once the schedule is used up.
pub fn delay(schedule: &[Duration], attempts: i64, at_least: Option<Duration>) -> Option<Duration> {
    let base = schedule.get((attempts.max(1) - 1) as usize)?;
    Some(jittered(*base).max(at_least.unwrap_or_default()))
}

fn jittered(delay: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    let unit = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    delay.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_with_jitter_and_honour_the_remote() {
        let schedule = [Duration::from_secs(10), Duration::from_secs(60)];
        let first = delay(&schedule, 1, None).expect("first");
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        let second = delay(&schedule, 2, Some(Duration::from_secs(120))).expect("second");
        assert_eq!(second, Duration::from_secs(120));
        assert_eq!(delay(&schedule, 3, None), None);
    }
}
