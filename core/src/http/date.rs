//! The HTTP `Date` header in its one current format, IMF-fixdate (RFC 9110 §5.6.7), e.g.
//! `Sun, 06 Nov 1994 08:49:37 GMT`. Senders must use it; the obsolete RFC 850 and asctime forms
//! are not read (the header only tunes the clock offset, which then stays at zero). Hand-written
//! rather than the `httpdate` crate: 4 KB less in the mobile library (issue 9).

/// Seconds since the Unix epoch, or `None` unless `value` is a well-formed IMF-fixdate.
pub(crate) fn parse(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let weekday = DAYS.iter().position(|d| *d == &b[..3])?;
    let month = MONTHS.iter().position(|m| *m == &b[8..11])? as i64 + 1;
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &b[range];
        digits.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let separators = [(7, b' '), (11, b' '), (16, b' '), (19, b':'), (22, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let (day, year) = (num(5..7)?, num(12..16)?);
    let (hour, minute, second) = (num(17..19)?, num(20..22)?, num(23..25)?);
    // Second 60 is a leap second; the header is a coarse hint, so 60 counts as 59.
    if !(1..=days_in_month(year, month)).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // 1970-01-01 was a Thursday (index 3); the stated day of the week must agree.
    if (days + 3).rem_euclid(7) as usize != weekday {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second.min(59))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn reads_imf_fixdate() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse("Tue, 29 Feb 2028 23:59:59 GMT"), Some(1_835_481_599));
        assert_eq!(parse("Sat, 28 Nov 2026 23:19:12 GMT"), Some(1_795_907_952));
    }

    #[test]
    fn agrees_with_the_httpdate_crate_over_a_wide_range() {
        // Every ~37 hours from 1970 to 2100: the formatter of a well-kept crate against this parser.
        let mut t = 0u64;
        while t < 4_102_444_800 {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(t));
            assert_eq!(parse(&text), Some(t as i64), "{text}");
            t += 133_337;
        }
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850 (obsolete)
            "Sun Nov  6 08:49:37 1994",       // asctime (obsolete)
            "Sun, 06 Nov 1994 08:49:37 UTC",  // not GMT
            "Mon, 06 Nov 1994 08:49:37 GMT",  // wrong day of the week
            "Sun, 31 Nov 1994 08:49:37 GMT",  // no 31 November
            "Tue, 29 Feb 2100 00:00:00 GMT",  // 2100 is not a leap year
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:3x GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // A leap second counts as :59.
        assert_eq!(parse("Sat, 31 Dec 2016 23:59:60 GMT"), Some(1_483_228_799));
    }
}
