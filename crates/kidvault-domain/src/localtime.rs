//! Times as a guardian reads them: in their own time zone (an IANA name such
//! as `America/Los_Angeles`), with the zone named, and days that begin at
//! their midnight, not UTC's. A 9:30 pm bedtime story in Los Angeles is
//! "9:30 pm PST" on its own evening, and "delete this day" deletes that
//! evening.
//!
//! Text written once for several guardians (a notice to a household) carries
//! times as markers, `{{at:RFC 3339}}` or `{{on:RFC 3339}}`, which
//! [`Zone::render`] turns into words in each reader's zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::Timestamp;

/// A guardian's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone(Tz);

impl Default for Zone {
    fn default() -> Self {
        Self::UTC
    }
}

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    /// An IANA zone name (`Europe/Madrid`); `None` for anything else.
    pub fn parse(name: &str) -> Option<Zone> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return None;
        }
        name.parse::<Tz>().ok().map(Zone)
    }

    /// A guardian's stored zone, UTC when none was chosen (or it is no longer known).
    pub fn or_utc(name: Option<&str>) -> Zone {
        name.and_then(Zone::parse).unwrap_or_default()
    }

    /// Its IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Every zone a guardian may choose, by name.
    pub fn all() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).filter(|n| n.contains('/') || *n == "UTC")
    }

    fn local(&self, t: Timestamp) -> DateTime<Tz> {
        t.with_timezone(&self.0)
    }

    /// "30 Nov 2026, 9:30 pm PST".
    pub fn at(&self, t: Timestamp) -> String {
        let l = self.local(t);
        format!("{}, {} {}", l.format("%-d %b %Y"), clock(&l), l.format("%Z"))
    }

    /// "9:30 pm" (the zone is named elsewhere on the page).
    pub fn time(&self, t: Timestamp) -> String {
        clock(&self.local(t))
    }

    /// "30 November 2026": the day the instant falls on here.
    pub fn on(&self, t: Timestamp) -> String {
        self.local(t).format("%-d %B %Y").to_string()
    }

    /// "30 Nov": the day the instant falls on here, short.
    pub fn day_month(&self, t: Timestamp) -> String {
        self.local(t).format("%-d %b").to_string()
    }

    /// "Mon 30 Nov": the day the instant falls on here, with its weekday.
    pub fn weekday_day_month(&self, t: Timestamp) -> String {
        self.local(t).format("%a %-d %b").to_string()
    }

    /// "2026-11-30-2130": the local time for a file name.
    pub fn file_stamp(&self, t: Timestamp) -> String {
        self.local(t).format("%Y-%m-%d-%H%M").to_string()
    }

    /// The zone's abbreviation at `t` ("PST", "CET"; an offset where there is none).
    pub fn abbrev(&self, t: Timestamp) -> String {
        self.local(t).format("%Z").to_string()
    }

    /// The local wall-clock time of an instant.
    pub fn local_time(&self, t: Timestamp) -> chrono::NaiveTime {
        self.local(t).time()
    }

    /// The local day an instant falls on.
    pub fn date(&self, t: Timestamp) -> NaiveDate {
        self.local(t).date_naive()
    }

    /// The first instant of a local day: its midnight, or the first moment
    /// after it where a clock change skips midnight.
    pub fn start_of(&self, day: NaiveDate) -> Timestamp {
        let mut at = day.and_time(chrono::NaiveTime::MIN);
        for _ in 0..=48 {
            if let Some(t) = self.0.from_local_datetime(&at).earliest() {
                return t.with_timezone(&Utc);
            }
            at += Duration::minutes(30);
        }
        // No zone skips a whole day of local time; fall back to UTC midnight.
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// A local day as a half-open range of instants `[start, end)`: 23, 24 or
    /// 25 hours long.
    pub fn day_bounds(&self, day: NaiveDate) -> (Timestamp, Timestamp) {
        let next = day.succ_opt().unwrap_or(day);
        (self.start_of(day), self.start_of(next))
    }
}

/// A marker for "this instant, as date and time" in the reader's zone.
pub fn mark_at(t: Timestamp) -> String {
    format!("{{{{at:{}}}}}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A marker for "the day of this instant" in the reader's zone.
pub fn mark_on(t: Timestamp) -> String {
    format!("{{{{on:{}}}}}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// "9:30 pm", "12:05 am".
fn clock<T: TimeZone>(l: &DateTime<T>) -> String
where
    T::Offset: std::fmt::Display,
{
    let (pm, h) = l.time().hour12();
    format!("{h}:{:02} {}", l.time().minute(), if pm { "pm" } else { "am" })
}

/// A day's heading: "Monday 30 November 2026".
pub fn day_title(day: NaiveDate) -> String {
    format!("{} {}", day.format("%A %-d %B"), day.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_bedtime_story_in_los_angeles_is_on_its_own_evening() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        let story = t("2026-12-01T05:30:00Z");
        assert_eq!(la.at(story), "30 Nov 2026, 9:30 pm PST");
        assert_eq!(la.date(story), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(Zone::UTC.at(story), "1 Dec 2026, 5:30 am UTC");
        let (start, end) = la.day_bounds(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!((start, end), (t("2026-11-30T08:00:00Z"), t("2026-12-01T08:00:00Z")));
        assert!(start <= story && story < end);
    }

    #[test]
    fn days_around_clock_changes_are_23_and_25_hours() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        let (s, e) = la.day_bounds(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
        assert_eq!(e - s, Duration::hours(23));
        let (s, e) = la.day_bounds(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(e - s, Duration::hours(25));
        // Where the clock skips midnight itself, the day begins at 1 am.
        let santiago = Zone::parse("America/Santiago").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(santiago.start_of(day).with_timezone(&santiago.0).hour(), 1);
    }

    #[test]
    fn only_real_zone_names_parse() {
        assert!(Zone::parse("Europe/Madrid").is_some());
        assert!(Zone::parse("Mars/Olympus").is_none());
        assert!(Zone::parse("").is_none());
        assert_eq!(Zone::or_utc(Some("bogus")), Zone::UTC);
        assert!(Zone::all().any(|n| n == "America/Los_Angeles"));
        assert_eq!(day_title(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()), "Monday 30 November 2026");
    }
}
