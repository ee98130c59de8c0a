//! RFC 5322 §3.3 dates.

use std::fmt;

/// A point in time with the UTC offset it is shown in, as the `Date`
/// header writes it: `Sat, 28 Nov 2026 19:52:34 +0100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    unix_seconds: i64,
    offset_minutes: i16,
}

impl DateTime {
    /// A time given as seconds since the Unix epoch, shown in UTC.
    pub fn from_unix(unix_seconds: i64) -> Self {
        Self {
            unix_seconds,
            offset_minutes: 0,
        }
    }

    /// The same instant shown at another UTC offset (in minutes, clamped to
    /// ±23:59).
    pub fn with_offset_minutes(self, offset_minutes: i16) -> Self {
        Self {
            offset_minutes: offset_minutes.clamp(-(23 * 60 + 59), 23 * 60 + 59),
            ..self
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// The current time in UTC, from the system clock (`Date.now()` in the
    /// wasm build, where `std::time` has no clock).
    pub fn now() -> Self {
        Self::from_unix(now_unix_seconds())
    }

    /// [`DateTime::now`] and the clock's nanoseconds since the epoch (0
    /// before it, and in the wasm build), from one reading of the clock:
    /// a composed message's Date and the seed of its ids.
    pub(crate) fn now_with_nanos() -> (Self, u64) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            use std::time::{SystemTime, UNIX_EPOCH};
            match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => (
                    Self::from_unix(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                    d.as_nanos() as u64,
                ),
                Err(e) => (
                    Self::from_unix(-i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX)),
                    0,
                ),
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            (Self::now(), 0)
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "wasm"))]
fn now_unix_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

#[cfg(not(all(target_arch = "wasm32", feature = "wasm")))]
fn now_unix_seconds() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `00` to `99`.
const DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The RFC 5322 form, always 31 ASCII octets: `Sat, 28 Nov 2026 19:52:34 +0100`.
    fn rfc5322(&self) -> [u8; 31] {
        // Clamp to years 0..=9999 so the output always has the RFC's form.
        const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let local = self
            .unix_seconds
            .saturating_add(i64::from(self.offset_minutes) * 60)
            .clamp(MIN, MAX);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let weekday = DAYS[days.rem_euclid(7) as usize];
        let off = u32::from(self.offset_minutes.unsigned_abs());
        let mut out = *b"Thu, 01 Jan 1970 00:00:00 +0000";
        // Two digits from a table: a load and a store each, not two
        // divisions (this runs for every message).
        let two = |out: &mut [u8; 31], at: usize, v: u32| {
            let v = (v % 100) as usize;
            out[at..at + 2].copy_from_slice(&DIGITS[2 * v..2 * v + 2]);
        };
        out[..3].copy_from_slice(weekday.as_bytes());
        two(&mut out, 5, day);
        out[8..11].copy_from_slice(MONTHS[(month - 1) as usize].as_bytes());
        let year = year as u32; // 0..=9999 after the clamp
        two(&mut out, 12, year / 100);
        two(&mut out, 14, year % 100);
        two(&mut out, 17, secs / 3600);
        two(&mut out, 20, secs % 3600 / 60);
        two(&mut out, 23, secs % 60);
        out[26] = if self.offset_minutes < 0 { b'-' } else { b'+' };
        two(&mut out, 27, off / 60);
        two(&mut out, 29, off % 60);
        out
    }

    /// Appends the `Date` header line: `Date: ` and the RFC 5322 form, CRLF.
    #[inline(never)]
    pub(crate) fn write_header(&self, out: &mut Vec<u8>) {
        let mut line = *b"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n";
        line[6..37].copy_from_slice(&self.rfc5322());
        out.extend_from_slice(&line);
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.rfc5322();
        // Only ASCII digits, letters, spaces, ':', ',', '+' and '-' are written.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc5322_dates() {
        assert_eq!(
            DateTime::from_unix(0).to_string(),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        // 2026-11-28T19:52:34Z
        assert_eq!(
            DateTime::from_unix(1_795_895_554).to_string(),
            "Sat, 28 Nov 2026 19:52:34 +0000"
        );
        assert_eq!(
            DateTime::from_unix(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            DateTime::from_unix(1_795_895_554)
                .with_offset_minutes(-330)
                .to_string(),
            "Sat, 28 Nov 2026 14:22:34 -0530"
        );
        assert_eq!(
            DateTime::from_unix(-1).to_string(),
            "Wed, 31 Dec 1969 23:59:59 +0000"
        );
    }

    /// The hand-made formatter agrees with `format!` over many instants.
    #[test]
    fn matches_a_format_reference() {
        let mut t: i64 = -62_167_219_200;
        while t < 253_402_300_799 {
            for offset in [-1439i16, -330, 0, 60, 1439] {
                let d = DateTime::from_unix(t).with_offset_minutes(offset);
                let local = t + i64::from(offset) * 60;
                if !(-62_167_219_200..=253_402_300_799).contains(&local) {
                    continue;
                }
                let days = local.div_euclid(86_400);
                let secs = local.rem_euclid(86_400);
                let (year, month, day) = civil_from_days(days);
                let off = offset.unsigned_abs();
                let want = format!(
                    "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} {}{:02}{:02}",
                    DAYS[days.rem_euclid(7) as usize],
                    MONTHS[(month - 1) as usize],
                    secs / 3600,
                    secs % 3600 / 60,
                    secs % 60,
                    if offset < 0 { '-' } else { '+' },
                    off / 60,
                    off % 60
                );
                assert_eq!(d.to_string(), want);
            }
            t += 7_777_777;
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        for t in [i64::MIN, i64::MAX, -62_167_219_201, 253_402_300_800] {
            let s = DateTime::from_unix(t)
                .with_offset_minutes(i16::MAX)
                .to_string();
            assert_eq!(s.len(), 31, "{s}");
        }
    }

    #[test]
    fn now_is_after_2025() {
        assert!(DateTime::now().unix_seconds() > 1_735_689_600);
    }
}
