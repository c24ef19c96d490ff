//! Calling windows: the hours of the week, in the contact's own local time,
//! during which a campaign may call, and the holidays on which it may not.
//!
//! A window whose end is not after its start crosses midnight: `20:00–02:00`
//! on a Wednesday is open from Wednesday 20:00 to Thursday 02:00.

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// A set of weekdays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Monday to Friday.
    pub const WORKDAYS: Weekdays = Weekdays(0b001_1111);
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    /// Just one day.
    pub fn only(day: Weekday) -> Weekdays {
        Weekdays(1 << day.to_monday_zero_offset())
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }

    /// Parses `mon-fri`, `mon,wed,fri`, `sat`, `all`.
    pub fn parse(text: &str) -> Result<Weekdays, WindowError> {
        let text = text.trim().to_ascii_lowercase();
        if text == "all" || text == "daily" {
            return Ok(Weekdays::ALL);
        }
        let mut bits = 0u8;
        for part in text.split(',') {
            let part = part.trim();
            if let Some((from, to)) = part.split_once('-') {
                let from = day_index(from)?;
                let to = day_index(to)?;
                let mut day = from;
                loop {
                    bits |= 1 << day;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            } else {
                bits |= 1 << day_index(part)?;
            }
        }
        Ok(Weekdays(bits))
    }
}

fn day_index(name: &str) -> Result<u8, WindowError> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let name = name.trim();
    NAMES
        .iter()
        .position(|n| name.starts_with(n))
        .map(|i| i as u8)
        .ok_or_else(|| WindowError(format!("unknown weekday {name:?} (use mon, tue, ... sun)")))
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let names: Vec<&str> =
            (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| NAMES[i as usize]).collect();
        write!(f, "{}", names.join(","))
    }
}

impl Serialize for Weekdays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for Weekdays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Weekdays::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A calling window that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowError(pub String);

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WindowError {}

/// One span of hours on some weekdays. `start == end` means the whole day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpan {
    pub days: Weekdays,
    pub start: Time,
    pub end: Time,
}

impl WindowSpan {
    /// Whether the span is open at a local wall-clock time.
    fn contains(&self, local: DateTime) -> bool {
        let day = local.weekday();
        let time = local.time();
        if self.start == self.end {
            return self.days.contains(day);
        }
        if self.start < self.end {
            return self.days.contains(day) && time >= self.start && time < self.end;
        }
        // Crosses midnight: the evening part belongs to `day`, the early
        // morning part to the day before.
        (self.days.contains(day) && time >= self.start)
            || (self.days.contains(day.previous()) && time < self.end)
    }
}

/// The weekly calling windows of a campaign, plus its holidays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingWindows {
    pub spans: Vec<WindowSpan>,
    /// Local dates on which no call is placed at all. A window that crosses
    /// midnight into a holiday stops at midnight.
    #[serde(default)]
    pub holidays: Vec<Date>,
}

/// Why a window is closed at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    Hours,
    Holiday(Date),
}

impl CallingWindows {
    /// Always open (still subject to a rule set's own hours).
    pub fn always() -> CallingWindows {
        CallingWindows {
            spans: vec![WindowSpan { days: Weekdays::ALL, start: Time::MIN, end: Time::MIN }],
            holidays: Vec::new(),
        }
    }

    /// Parses a compact form: `mon-fri 08:00-13:00, mon-fri 14:30-18:00, wed 20:00-02:00`.
    /// Days may also be listed with commas (`mon,wed,fri 09:00-12:00`), as the
    /// windows are written back for display.
    pub fn parse(text: &str) -> Result<CallingWindows, WindowError> {
        let mut spans = Vec::new();
        // A piece without a space is only days: it belongs to the next piece.
        let mut days_before = String::new();
        for piece in text.split(';').flat_map(|p| p.split(',')).map(str::trim) {
            if piece.is_empty() {
                continue;
            }
            if !piece.contains(' ') && !piece.contains(':') {
                days_before.push_str(piece);
                days_before.push(',');
                continue;
            }
            let joined = format!("{days_before}{piece}");
            days_before.clear();
            let part = joined.as_str();
            let (days, hours) = part
                .rsplit_once(' ')
                .ok_or_else(|| WindowError(format!("{part:?}: expected \"DAYS HH:MM-HH:MM\"")))?;
            let (start, end) = hours
                .split_once('-')
                .ok_or_else(|| WindowError(format!("{hours:?}: expected HH:MM-HH:MM")))?;
            let time = |t: &str| {
                Time::strptime("%H:%M", t.trim()).map_err(|_| {
                    WindowError(format!("{t:?} is not a time of day (use HH:MM, 24-hour clock)"))
                })
            };
            let end = if end.trim() == "24:00" { Time::MIN } else { time(end)? };
            spans.push(WindowSpan { days: Weekdays::parse(days)?, start: time(start)?, end });
        }
        if !days_before.is_empty() {
            let days = days_before.trim_end_matches(',');
            return Err(WindowError(format!("{days:?}: expected \"DAYS HH:MM-HH:MM\"")));
        }
        if spans.is_empty() {
            return Err(WindowError("no calling window given".to_string()));
        }
        Ok(CallingWindows { spans, holidays: Vec::new() })
    }

    /// Whether calls may go out at this local wall-clock time, or why not.
    pub fn check_local(&self, local: DateTime) -> Result<(), Closed> {
        if !self.spans.iter().any(|span| span.contains(local)) {
            return Err(Closed::Hours);
        }
        if self.holidays.contains(&local.date()) {
            return Err(Closed::Holiday(local.date()));
        }
        Ok(())
    }

    /// Whether calls may go out at `now` in `zone`.
    pub fn check(&self, now: Timestamp, zone: &TimeZone) -> Result<(), Closed> {
        self.check_local(zone.to_datetime(now))
    }

    /// The first instant at or after `now` at which the window is open in
    /// `zone`, looking at most two weeks ahead.
    pub fn next_open(&self, now: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        if self.check(now, zone).is_ok() {
            return Some(now);
        }
        let today = zone.to_datetime(now).date();
        let mut best: Option<Timestamp> = None;
        for offset in 0..15i32 {
            let Ok(date) = today.checked_add(offset.days()) else { break };
            // Openings are span starts, and midnights (a holiday ending, or a
            // whole-day span).
            let mut starts: Vec<Time> = self.spans.iter().map(|s| s.start).collect();
            starts.push(Time::MIN);
            for start in starts {
                let Ok(at) = zone.to_ambiguous_timestamp(date.to_datetime(start)).compatible()
                else {
                    continue;
                };
                if at > now && self.check(at, zone).is_ok() && best.is_none_or(|b| at < b) {
                    best = Some(at);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(windows: &CallingWindows, y: i16, m: i8, d: i8, h: i8, min: i8) -> bool {
        windows.check_local(date(y, m, d).at(h, min, 0, 0)).is_ok()
    }

    #[test]
    fn split_day_and_midnight_crossing_windows() {
        let w = CallingWindows::parse("mon-fri 08:00-13:00, mon-fri 14:30-18:00, wed 20:00-02:00")
            .unwrap();
        // 2026-12-02 is a Wednesday.
        assert!(at(&w, 2026, 12, 2, 12, 59));
        assert!(!at(&w, 2026, 12, 2, 13, 0));
        assert!(!at(&w, 2026, 12, 2, 14, 29));
        assert!(at(&w, 2026, 12, 2, 14, 30));
        assert!(at(&w, 2026, 12, 2, 20, 0));
        assert!(at(&w, 2026, 12, 3, 1, 59));
        assert!(!at(&w, 2026, 12, 3, 2, 0));
        assert!(!at(&w, 2026, 12, 3, 19, 59));
        // Tuesday night is not open.
        assert!(!at(&w, 2026, 12, 1, 21, 0));
        assert!(!at(&w, 2026, 12, 2, 1, 0));
        assert!(!at(&w, 2026, 12, 5, 10, 0));
    }

    #[test]
    fn next_open_finds_the_afternoon_span() {
        let w = CallingWindows::parse("mon-fri 08:00-13:00, mon-fri 14:30-18:00").unwrap();
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        let now =
            date(2026, 12, 2).at(13, 0, 30, 0).to_zoned_datetime(tz.clone()).unwrap().timestamp();
        let next = w.next_open(now, &tz).unwrap();
        assert_eq!(tz.to_datetime(next), date(2026, 12, 2).at(14, 30, 0, 0));
    }

    #[test]
    fn holidays_close_the_whole_day() {
        let mut w = CallingWindows::parse("mon-fri 09:00-17:00").unwrap();
        w.holidays.push(date(2026, 12, 24));
        assert_eq!(
            w.check_local(date(2026, 12, 24).at(10, 0, 0, 0)),
            Err(Closed::Holiday(date(2026, 12, 24)))
        );
        let tz = TimeZone::get("Europe/Stockholm").unwrap();
        let now =
            date(2026, 12, 24).at(10, 0, 0, 0).to_zoned_datetime(tz.clone()).unwrap().timestamp();
        let next = w.next_open(now, &tz).unwrap();
        assert_eq!(tz.to_datetime(next), date(2026, 12, 25).at(9, 0, 0, 0));
    }

    #[test]
    fn day_lists_with_commas_read_back_as_displayed() {
        let w = CallingWindows::parse("mon,tue,wed,thu,fri 09:00-20:00, sat 10:00-16:00").unwrap();
        assert_eq!(w, CallingWindows::parse("mon-fri 09:00-20:00, sat 10:00-16:00").unwrap());
        let shown: Vec<String> = w.spans.iter().map(|s| format!("{:?}", s.days)).collect();
        assert_eq!(shown, ["mon,tue,wed,thu,fri", "sat"]);
        let w = CallingWindows::parse("mon, wed,fri 09:00-12:00").unwrap();
        // 2026-12-02 is a Wednesday, 2026-12-01 a Tuesday.
        assert!(at(&w, 2026, 12, 2, 10, 0));
        assert!(!at(&w, 2026, 12, 1, 10, 0));
        assert!(CallingWindows::parse("mon-fri 09:00-17:00, sat").is_err());
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        assert!(CallingWindows::parse("").is_err());
        assert!(CallingWindows::parse("mon-fri 25:00-26:00").is_err());
        assert!(CallingWindows::parse("funday 08:00-10:00").is_err());
    }
}
