//! Adviser opening hours: whether a ticket opened now can expect a person
//! soon, and if not, from when. Written like "mon-fri 08:00-17:00,
//! sat 10:00-12:00" in the programme's local time zone (daylight saving
//! included). Public holidays are not known: add them as closed days if
//! that matters (not supported yet).

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::model::Lang;

/// A bad `escalation.opening_hours` or `escalation.timezone`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("escalation.opening_hours: {0}")]
pub struct HoursError(String);

#[derive(Debug, Clone, PartialEq)]
struct Window {
    days: Vec<Weekday>,
    from: NaiveTime,
    to: NaiveTime,
}

/// Parsed opening hours; empty = always open.
#[derive(Debug, Clone, PartialEq)]
pub struct OpeningHours {
    windows: Vec<Window>,
    tz: Tz,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn day(s: &str) -> Result<Weekday, HoursError> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(n, _)| s.starts_with(n))
        .map(|(_, d)| *d)
        .ok_or_else(|| HoursError(format!("`{s}` is not a weekday (mon … sun)")))
}

fn time(s: &str) -> Result<NaiveTime, HoursError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| HoursError(format!("`{}` is not a time like 08:00", s.trim())))
}

impl OpeningHours {
    /// Always open (no opening hours configured).
    pub fn always() -> Self {
        Self {
            windows: Vec::new(),
            tz: chrono_tz::Europe::Stockholm,
        }
    }

    pub fn parse(spec: &str, tz: &str) -> Result<Self, HoursError> {
        let tz: Tz = tz
            .parse()
            .map_err(|_| HoursError(format!("unknown time zone `{tz}` (e.g. Europe/Stockholm)")))?;
        let mut windows = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (days, hours) = part.split_once(' ').ok_or_else(|| {
                HoursError(format!(
                    "`{part}`: write days then hours, like mon-fri 08:00-17:00"
                ))
            })?;
            let days = match days.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut v = vec![a];
                    let mut d = a;
                    while d != b {
                        d = d.succ();
                        v.push(d);
                    }
                    v
                }
                None => vec![day(days)?],
            };
            let (from, to) = hours
                .split_once('-')
                .ok_or_else(|| HoursError(format!("`{hours}`: write hours like 08:00-17:00")))?;
            let (from, to) = (time(from)?, time(to)?);
            if from >= to {
                return Err(HoursError(format!(
                    "`{hours}`: the end must come after the start"
                )));
            }
            windows.push(Window { days, from, to });
        }
        Ok(Self { windows, tz })
    }

    pub fn is_always_open(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether advisers are at work at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let local = at.with_timezone(&self.tz);
        let t = local.time();
        self.windows
            .iter()
            .any(|w| w.days.contains(&local.weekday()) && t >= w.from && t < w.to)
    }

    /// When advisers are next at work after `at` (None: open now, or no
    /// window in the coming two weeks).
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Tz>> {
        if self.is_open(at) {
            return None;
        }
        let local = at.with_timezone(&self.tz);
        let mut best: Option<DateTime<Tz>> = None;
        for offset in 0..15 {
            let date = local.date_naive() + Duration::days(offset);
            for w in self
                .windows
                .iter()
                .filter(|w| w.days.contains(&date.weekday()))
            {
                let Some(start) = self
                    .tz
                    .from_local_datetime(&date.and_time(w.from))
                    .earliest()
                else {
                    continue;
                };
                if start > local && best.is_none_or(|b| start < b) {
                    best = Some(start);
                }
            }
            if best.is_some() {
                break;
            }
        }
        best
    }
}

/// "måndag 1 december kl. 08:00" / "Monday 1 December at 08:00".
pub fn when(lang: Lang, t: DateTime<Tz>) -> String {
    const SV_DAYS: [&str; 7] = [
        "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
    ];
    const SV_MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    match lang {
        Lang::Sv => format!(
            "{} {} {} kl. {}",
            SV_DAYS[t.weekday().num_days_from_monday() as usize],
            t.day(),
            SV_MONTHS[t.month0() as usize],
            t.format("%H:%M")
        ),
        Lang::En => t.format("%A %-d %B at %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn weekday_office_hours_in_stockholm_time_with_daylight_saving() {
        let h = OpeningHours::parse("mon-fri 08:00-17:00", "Europe/Stockholm").expect("parse");
        // Wednesday 10:00 in Stockholm (winter, UTC+1).
        assert!(h.is_open(utc("2026-12-02T09:00:00Z")));
        // 07:30 local: not yet.
        assert!(!h.is_open(utc("2026-12-02T06:30:00Z")));
        // Summer (UTC+2): 07:30 UTC is 09:30 local.
        assert!(h.is_open(utc("2026-06-03T07:30:00Z")));
        // Saturday noon: closed until Monday 08:00 local.
        let next = h.next_open(utc("2026-11-28T12:00:00Z")).expect("next");
        assert_eq!(next.to_rfc3339(), "2026-11-30T08:00:00+01:00");
        assert_eq!(when(Lang::Sv, next), "måndag 30 november kl. 08:00");
        assert_eq!(when(Lang::En, next), "Monday 30 November at 08:00");
        // Friday evening: Monday; Monday 06:00: the same morning.
        assert_eq!(
            h.next_open(utc("2026-12-04T18:00:00Z"))
                .map(|t| t.to_rfc3339()),
            Some("2026-12-07T08:00:00+01:00".into())
        );
        assert_eq!(
            h.next_open(utc("2026-12-07T05:00:00Z"))
                .map(|t| t.to_rfc3339()),
            Some("2026-12-07T08:00:00+01:00".into())
        );
        assert_eq!(h.next_open(utc("2026-12-07T09:00:00Z")), None, "open now");
    }

    #[test]
    fn several_windows_and_bad_specs() {
        let h = OpeningHours::parse("mon-thu 08:00-17:00, fri 08:00-12:00", "Europe/Stockholm")
            .expect("parse");
        assert!(!h.is_open(utc("2026-12-04T12:30:00Z")), "Friday 13:30");
        assert!(OpeningHours::parse("", "Europe/Stockholm")
            .expect("empty")
            .is_always_open());
        for bad in [
            "mon-fri",
            "funday 08:00-17:00",
            "mon 17:00-08:00",
            "mon 8-17",
        ] {
            assert!(
                OpeningHours::parse(bad, "Europe/Stockholm").is_err(),
                "{bad}"
            );
        }
        assert!(OpeningHours::parse("mon 08:00-17:00", "Mars/Olympus").is_err());
    }
}
