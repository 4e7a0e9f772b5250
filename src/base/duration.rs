//! Durations as people write them in flags and configs: `250ms`, `10s`, `5m`, `2h`.

use std::time::Duration;

/// Parses `250ms`, `10s`, `5m`, `2h`: a whole number and one unit.
pub fn parse(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` needs a unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{text}`: unit must be ms, s, m or h")),
    };
    Ok(d)
}

/// Writes a duration the way [`parse`] reads it, in the largest unit that divides it.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse("10").is_err());
        assert!(parse("ten s").is_err());
        assert!(parse("5d").is_err());
    }

    #[test]
    fn durations_show_as_they_are_written() {
        for text in ["250ms", "10s", "90m", "2h", "0s"] {
            assert_eq!(show(parse(text).expect(text)), text);
        }
        assert_eq!(show(Duration::from_secs(3600)), "1h");
    }
}
