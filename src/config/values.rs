//! Human-friendly value syntaxes in config files: sizes ("2g") and durations ("10m").

use std::time::Duration;

/// "512m", "2g", "1.5g", "100k" or a plain byte count.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (expected e.g. \"512m\" or \"2g\")"))?;
    if n.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !n.is_finite() {
        return Err(format!("size `{s}` must be positive"));
    }
    let bytes = n * mult as f64;
    // 2^64 itself is not representable; anything from there on would wrap or saturate.
    if bytes >= 18_446_744_073_709_551_616.0 {
        return Err(format!("size `{s}` is too large"));
    }
    if bytes < 1.0 {
        return Err(format!("size `{s}` rounds to zero bytes"));
    }
    Ok(bytes as u64)
}

/// "90s", "10m", "1h", "1h30m" or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    let bad = || format!("`{s}` is not a duration (expected e.g. \"90s\", \"10m\" or \"1h\")");
    if let Ok(secs) = t.parse::<u64>() {
        return positive(Duration::from_secs(secs), s);
    }
    let mut total = 0u64;
    let mut num = String::new();
    let too_long = || format!("duration `{s}` is too long");
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(too_long)?;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    positive(Duration::from_secs(total), s)
}

/// Longest a configured duration may be (timers beyond it would overflow the clock).
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

fn positive(d: Duration, s: &str) -> Result<Duration, String> {
    if d.is_zero() {
        Err(format!("duration `{s}` must be longer than zero"))
    } else if d > MAX_DURATION {
        Err(format!("duration `{s}` is longer than 30 days"))
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1g").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("0.0001").unwrap_err().contains("rounds to zero"));
        assert!(
            parse_size("99999999999t")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(
            parse_duration("9999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse_duration("31d").is_err());
        assert!(parse_duration("800h").unwrap_err().contains("30 days"));
    }
}
