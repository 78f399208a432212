//! Instants in a reader's zone and language. The zone arithmetic (local days,
//! clock changes) is the domain's [`Zone`]; the words (month and weekday
//! names, 12- or 24-hour clock, word order) come from the catalogue.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use kidvault_domain::localtime::Zone;
use kidvault_domain::Timestamp;

use crate::{t, Lang};

/// A reader's zone and language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    pub zone: Zone,
    pub lang: Lang,
}

impl Clock {
    pub fn new(zone: Zone, lang: Lang) -> Self {
        Self { zone, lang }
    }

    /// "30 Nov 2026, 9:30 pm PST" / "30 nov 2026, 21:30 PST".
    pub fn at(&self, t: Timestamp) -> String {
        let d = self.zone.date(t);
        t!(
            self.lang,
            "date-at",
            day = d.day(),
            mon = self.month_short(d),
            year = d.year().to_string(),
            clock = self.time(t),
            zone = self.zone.abbrev(t)
        )
    }

    /// "9:30 pm" / "21:30" (the zone is named elsewhere on the page).
    pub fn time(&self, t: Timestamp) -> String {
        let l = self.zone.local_time(t);
        let (pm, h12) = l.hour12();
        t!(
            self.lang,
            "clock",
            h12 = h12,
            h24 = l.hour(),
            mm = format!("{:02}", l.minute()),
            pm = if pm { "pm" } else { "am" }
        )
    }

    /// "30 November 2026" / "30 de noviembre de 2026".
    pub fn on(&self, t: Timestamp) -> String {
        self.on_day(self.zone.date(t))
    }

    /// A local day in words, as [`Clock::on`] writes it.
    pub fn on_day(&self, d: NaiveDate) -> String {
        t!(self.lang, "date-on", day = d.day(), month = self.month_long(d), year = d.year().to_string())
    }

    /// "30 Nov" / "30 nov".
    pub fn day_month(&self, t: Timestamp) -> String {
        let d = self.zone.date(t);
        t!(self.lang, "date-day-month", day = d.day(), mon = self.month_short(d))
    }

    /// "Mon 30 Nov" / "lun 30 nov".
    pub fn weekday_day_month(&self, t: Timestamp) -> String {
        let d = self.zone.date(t);
        t!(
            self.lang,
            "date-weekday-day-month",
            wd = t!(self.lang, "weekday-short", d = d.weekday().number_from_monday()),
            day = d.day(),
            mon = self.month_short(d)
        )
    }

    /// A day's heading: "Monday 30 November 2026" / "lunes, 30 de noviembre de 2026".
    pub fn day_title(&self, d: NaiveDate) -> String {
        t!(
            self.lang,
            "date-day-title",
            weekday = t!(self.lang, "weekday", d = d.weekday().number_from_monday()),
            day = d.day(),
            month = self.month_long(d),
            year = d.year().to_string()
        )
    }

    /// Replaces `{{at:…}}` and `{{on:…}}` markers with times in this zone and
    /// language; a marker that does not parse is left as it is.
    pub fn render(&self, text: &str) -> String {
        kidvault_domain::markers::render(text, |how, t| {
            let t = DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc);
            match how {
                "at" => Some(self.at(t)),
                "on" => Some(self.on(t)),
                _ => None,
            }
        })
    }

    // The zone's own helpers, so a page needs only its clock.

    pub fn name(&self) -> &'static str {
        self.zone.name()
    }

    pub fn abbrev(&self, t: Timestamp) -> String {
        self.zone.abbrev(t)
    }

    pub fn date(&self, t: Timestamp) -> NaiveDate {
        self.zone.date(t)
    }

    pub fn day_bounds(&self, day: NaiveDate) -> (Timestamp, Timestamp) {
        self.zone.day_bounds(day)
    }

    pub fn start_of(&self, day: NaiveDate) -> Timestamp {
        self.zone.start_of(day)
    }

    pub fn file_stamp(&self, t: Timestamp) -> String {
        self.zone.file_stamp(t)
    }

    fn month_short(&self, d: NaiveDate) -> String {
        t!(self.lang, "month-short", m = d.month())
    }

    fn month_long(&self, d: NaiveDate) -> String {
        t!(self.lang, "month", m = d.month())
    }
}
