//! Cron schedules. Five-field crontab expressions (`*/5 * * * *`) are accepted as well as the
//! `cron` crate's six- and seven-field forms (with seconds, and years).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A parsed cron schedule, in UTC.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    inner: cron::Schedule,
}

/// A cron expression that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct ScheduleError {
    /// The expression as given.
    pub expression: String,
    /// What was wrong.
    pub reason: String,
}

impl Schedule {
    /// The expression as configured.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.inner.after(&after).next()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(expression: &str) -> Result<Self, Self::Err> {
        let trimmed = expression.trim();
        let error = |reason: String| ScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let normalized = if trimmed.starts_with('@') {
            trimmed.to_owned()
        } else {
            match fields.len() {
                5 => {
                    // crontab: minute hour day-of-month month day-of-week, with Sunday = 0 or 7.
                    // The cron crate wants seconds first and numbers Sunday as 1.
                    let weekday = crontab_weekdays(fields[4]).map_err(error)?;
                    format!(
                        "0 {} {} {} {} {weekday}",
                        fields[0], fields[1], fields[2], fields[3]
                    )
                }
                6 | 7 => trimmed.to_owned(),
                n => {
                    return Err(error(format!(
                        "expected 5 fields (minute hour day month weekday), or 6 or 7 with seconds and years; found {n}"
                    )));
                }
            }
        };
        // The cron crate's message spans lines, pointing into the rewritten expression; keep
        // its first line.
        let inner = cron::Schedule::from_str(&normalized).map_err(|err| {
            let text = err.to_string();
            error(
                text.lines()
                    .next()
                    .unwrap_or("unreadable")
                    .trim()
                    .to_owned(),
            )
        })?;
        // `0 0 30 2 *` (February 30th) parses but never fires: an agent would wait forever.
        if inner.upcoming(Utc).next().is_none() {
            return Err(error(
                "it never fires: no date from now on matches it".to_owned(),
            ));
        }
        Ok(Self {
            expression: trimmed.to_owned(),
            inner,
        })
    }
}

/// Renumbers a crontab day-of-week field (0–7, Sunday = 0 and 7) for the cron crate (1–7,
/// Sunday = 1). Names (`mon-fri`), `*` and `?` pass through; step values after `/` are kept.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    let renumber = |token: &str| -> Result<String, String> {
        if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() {
            let day: u32 = token
                .parse()
                .map_err(|_| format!("bad day of week {token:?}"))?;
            match day {
                0..=6 => Ok((day + 1).to_string()),
                7 => Ok("1".to_owned()),
                _ => Err(format!("day of week {day} is out of range 0-7")),
            }
        } else {
            Ok(token.to_owned())
        }
    };
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let range = match range.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (renumber(from)?, renumber(to)?);
                // `5-7` (Friday to Sunday) would become `6-1`; spell it out instead.
                if from.parse::<u32>().ok() > to.parse::<u32>().ok() && to == "1" {
                    format!("{from}-7,1")
                } else {
                    format!("{from}-{to}")
                }
            }
            None => renumber(range)?,
        };
        parts.push(match step {
            Some(step) => format!("{range}/{step}"),
            None => range,
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn five_field_expressions_get_a_seconds_field() {
        let schedule: Schedule = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            schedule.next_after(at("2026-11-24T10:01:30Z")),
            Some(at("2026-11-24T10:05:00Z"))
        );
    }

    #[test]
    fn crontab_weekday_numbers_mean_what_crontab_says() {
        // 2026-11-24 is a Tuesday. "1" in crontab is Monday.
        let monday: Schedule = "0 9 * * 1".parse().unwrap();
        assert_eq!(
            monday.next_after(at("2026-11-24T00:00:00Z")),
            Some(at("2026-11-30T09:00:00Z"))
        );
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun"] {
            let schedule: Schedule = sunday.parse().unwrap();
            assert_eq!(
                schedule.next_after(at("2026-11-24T00:00:00Z")),
                Some(at("2026-11-29T09:00:00Z")),
                "{sunday}"
            );
        }
        let weekdays: Schedule = "0 9 * * 1-5".parse().unwrap();
        assert_eq!(
            weekdays.next_after(at("2026-11-28T00:00:00Z")),
            Some(at("2026-11-30T09:00:00Z"))
        );
    }

    #[test]
    fn six_and_seven_fields_and_shorthands_pass_through() {
        assert!("0 */5 * * * *".parse::<Schedule>().is_ok());
        assert!("0 0 12 * * * 2027".parse::<Schedule>().is_ok());
        assert!("@hourly".parse::<Schedule>().is_ok());
    }

    #[test]
    fn bad_expressions_name_the_problem() {
        let err = "* * *".parse::<Schedule>().unwrap_err();
        assert!(err.to_string().contains("found 3"), "{err}");
        let err = "61 * * * *".parse::<Schedule>().unwrap_err();
        assert!(err.to_string().contains("61 * * * *"), "{err}");
        assert!("0 9 * * 8".parse::<Schedule>().is_err());
    }

    #[test]
    fn schedules_that_never_fire_are_refused() {
        for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 12 * * * 2020"] {
            let err = never.parse::<Schedule>().unwrap_err();
            assert!(err.to_string().contains("never fires"), "{never}: {err}");
        }
        assert!("0 0 29 2 *".parse::<Schedule>().is_ok(), "leap days come");
    }
}
