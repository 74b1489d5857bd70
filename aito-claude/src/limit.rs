//! Reading the CLI's failure texts: usage quotas and their reset times, transient rate limits,
//! overload, an API that is down or out of reach, and authentication failures.
//!
//! Reset times come in three shapes:
//! - the old `Claude AI usage limit reached|1760000400` (a Unix epoch);
//! - the current `You've hit your session limit · resets 9am (Europe/Berlin)`, also
//!   `resets 8:30pm (Asia/Tokyo)`, `resets Feb 16, 11am (Europe/Berlin)`,
//!   `resets Sep 15 at 7pm` and `Your limit will reset at 5pm (Europe/Warsaw)`;
//! - a `rate_limit_event` with `resetsAt` (epoch seconds) in stream-json output.
//!
//! A clock time without a date is the next such time after now; a named zone is resolved with
//! the IANA database (chrono-tz); without a zone the local zone of this machine is used, the
//! one the CLI printed in.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

fn regex(pattern: &str) -> Regex {
    // The patterns are constants checked by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("a valid constant pattern")
}

static EPOCH: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)limit reached\|(\d{9,12})\b"));

static RESETS: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?ix)
        \breset(?:s)?(?:\s+at)?\s+
        (?: (?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+
            (?P<day>\d{1,2})(?:,|\s+at)?\s+ )?
        (?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>am|pm)\b
        (?:\s*\((?P<zone>[A-Za-z0-9_+\-/]+)\))?",
    )
});

static QUOTA: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)usage limit|hit your\b[^.\n]{0,40}\blimit\b|\blimit reached\b[^\n]*\breset|limit will reset|out of extra usage",
    )
});

static AUTH: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)invalid api key|not logged in|please run /login|failed to authenticate|oauth token (?:has )?expired|authentication_error|authentication_failed|credit balance is too low|invalid bearer token|\b40[13]\b",
    )
});

static RATE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)rate.?limit|too many requests|\b429\b"));

static OVERLOAD: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)overloaded|\b529\b"));

/// An API that failed on its side or could not be reached, in the CLI's words (2.1.x):
/// `API Error: 500 Internal server error. This is a server-side issue, ...`,
/// `API Error: Unable to connect to API (ConnectionRefused)`,
/// `API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)`,
/// `Request timed out`.
static UNAVAILABLE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)unable to connect|connection (?:refused|reset|closed|error|failed)|\be(?:connrefused|connreset|timedout|notfound|hostunreach|netunreach)\b|eai_again|socket hang up|request timed out|network error|fetch failed|server-side issue|\bapi error: 5\d\d\b",
    )
});

static RETRY_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)retry[- ]after\D{0,3}(\d{1,6})\s*(ms|milliseconds?|s|sec|seconds?)?\b")
});

/// What a failure text (with the HTTP status, when the CLI gave one) says.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Failure {
    /// A usage quota; retrying before `resets_at` is pointless.
    Quota {
        /// When it resets, when the text said.
        resets_at: Option<DateTime<Utc>>,
    },
    /// A transient 429 or 529.
    Transient {
        /// How long to wait, when the text said.
        retry_after: Option<Duration>,
    },
    /// Credentials missing or refused.
    Auth,
    /// The API failed on its side (5xx other than 529) or could not be reached.
    Unavailable {
        /// The HTTP status, when the API answered.
        status: Option<u16>,
    },
}

/// Classifies a failure from its HTTP status and text. The status decides when it is 401, 403,
/// 429, 529 or another 5xx; the text decides otherwise. A 429 whose text names a usage limit is
/// a quota.
pub(crate) fn classify(status: Option<u64>, text: &str, now: DateTime<Utc>) -> Option<Failure> {
    let quota = || Failure::Quota {
        resets_at: reset_time(text, now),
    };
    let transient = || Failure::Transient {
        retry_after: retry_after(text),
    };
    match status {
        Some(401 | 403) => return Some(Failure::Auth),
        Some(429) if is_quota(text) => return Some(quota()),
        Some(429 | 529) => return Some(transient()),
        Some(status @ 500..=599) => {
            return Some(Failure::Unavailable {
                status: u16::try_from(status).ok(),
            });
        }
        _ => {}
    }
    if is_quota(text) {
        Some(quota())
    } else if AUTH.is_match(text) {
        Some(Failure::Auth)
    } else if RATE.is_match(text) || OVERLOAD.is_match(text) {
        Some(transient())
    } else if UNAVAILABLE.is_match(text) && status.is_none() {
        Some(Failure::Unavailable { status: None })
    } else {
        None
    }
}

/// Whether the text is a usage-quota notice.
pub(crate) fn is_quota(text: &str) -> bool {
    EPOCH.is_match(text) || QUOTA.is_match(text)
}

/// Whether the text is the old `... usage limit reached|<epoch>` notice.
pub(crate) fn is_epoch_notice(text: &str) -> bool {
    EPOCH.is_match(text)
}

/// A `retry-after` the text names.
fn retry_after(text: &str) -> Option<Duration> {
    let captures = RETRY_AFTER.captures(text)?;
    let n: u64 = captures.get(1)?.as_str().parse().ok()?;
    let unit = captures.get(2).map(|m| m.as_str().to_ascii_lowercase());
    Some(match unit.as_deref() {
        Some(unit) if unit.starts_with("ms") || unit.starts_with("milli") => {
            Duration::from_millis(n)
        }
        _ => Duration::from_secs(n),
    })
}

/// When the limit named in `text` resets: the `|epoch` suffix, or a `resets ...` phrase.
pub(crate) fn reset_time(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(captures) = EPOCH.captures(text) {
        let secs: i64 = captures.get(1)?.as_str().parse().ok()?;
        return Utc.timestamp_opt(secs, 0).single();
    }
    let captures = RESETS.captures(text)?;
    let hour12: u32 = captures.name("hour")?.as_str().parse().ok()?;
    let minute: u32 = match captures.name("minute") {
        Some(m) => m.as_str().parse().ok()?,
        None => 0,
    };
    if !(1..=12).contains(&hour12) || minute > 59 {
        return None;
    }
    let pm = captures.name("half")?.as_str().eq_ignore_ascii_case("pm");
    let hour = hour12 % 12 + if pm { 12 } else { 0 };
    let date = match (captures.name("month"), captures.name("day")) {
        (Some(month), Some(day)) => {
            Some((month_number(month.as_str())?, day.as_str().parse().ok()?))
        }
        _ => None,
    };
    let wall = Wall { date, hour, minute };
    match captures.name("zone") {
        Some(zone) => {
            let zone: chrono_tz::Tz = zone.as_str().parse().ok()?;
            wall.next_after(&zone, now)
        }
        None => wall.next_after(&chrono::Local, now),
    }
}

/// When a `rate_limit_event`'s `resetsAt` (epoch seconds or milliseconds) is.
pub(crate) fn epoch_time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    let n = value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f as i64))
        .or_else(|| value.as_str()?.parse().ok())?;
    // Milliseconds when it is too large to be seconds of this era.
    let secs = if n > 100_000_000_000 { n / 1000 } else { n };
    Utc.timestamp_opt(secs, 0).single()
}

/// How long until `at`, from `now` (zero when it has passed).
pub(crate) fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let key = name.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == key)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A wall-clock time, with or without a date, in some zone.
struct Wall {
    date: Option<(u32, u32)>,
    hour: u32,
    minute: u32,
}

impl Wall {
    fn next_after<Z: TimeZone>(&self, zone: &Z, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local_now = now.with_timezone(zone);
        match self.date {
            None => (0..=1).find_map(|days| {
                let day = local_now.date_naive().checked_add_days(Days::new(days))?;
                self.at(zone, day).filter(|at| *at > now)
            }),
            Some((month, day)) => {
                // This year, unless that is long past (a notice near new year).
                let year = local_now.year();
                let this_year = self.at(zone, NaiveDate::from_ymd_opt(year, month, day)?)?;
                if this_year + chrono::Duration::days(30) < now {
                    self.at(zone, NaiveDate::from_ymd_opt(year + 1, month, day)?)
                } else {
                    Some(this_year)
                }
            }
        }
    }

    fn at<Z: TimeZone>(&self, zone: &Z, day: NaiveDate) -> Option<DateTime<Utc>> {
        let naive = NaiveDateTime::new(
            day,
            chrono::NaiveTime::from_hms_opt(self.hour, self.minute, 0)?,
        );
        zone.from_local_datetime(&naive)
            .earliest()
            // In a DST gap the wall time does not exist; the hour after it does.
            .or_else(|| {
                zone.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|at| at.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_patterns_compile() {
        for pattern in [
            &EPOCH,
            &RESETS,
            &QUOTA,
            &AUTH,
            &RATE,
            &OVERLOAD,
            &UNAVAILABLE,
            &RETRY_AFTER,
        ] {
            let _ = pattern.is_match("");
        }
    }

    #[test]
    fn reads_the_epoch_form() {
        let now = at("2025-10-06T22:00:00Z");
        assert_eq!(
            reset_time("Claude AI usage limit reached|1760000400", now),
            Some(at("2025-10-09T09:00:00Z"))
        );
    }

    #[test]
    fn reads_a_clock_time_in_a_named_zone_as_the_next_such_time() {
        // 10:00 UTC is 11:00 in Berlin (CET): 9am has passed today, so it is tomorrow's.
        let now = at("2026-11-24T10:00:00Z");
        assert_eq!(
            reset_time(
                "You've hit your session limit · resets 9am (Europe/Berlin)",
                now
            ),
            Some(at("2026-11-25T08:00:00Z"))
        );
        // 3pm Berlin is still ahead today.
        assert_eq!(
            reset_time("You've hit your limit · resets 3pm (Europe/Berlin)", now),
            Some(at("2026-11-24T14:00:00Z"))
        );
        // Minutes, and summer time (JST has none; Berlin in July is CEST).
        assert_eq!(
            reset_time(
                "You've hit your session limit · resets 8:30pm (Asia/Tokyo)",
                now
            ),
            Some(at("2026-11-24T11:30:00Z"))
        );
        assert_eq!(
            reset_time("resets 12am (Europe/Berlin)", at("2026-07-01T12:00:00Z")),
            Some(at("2026-07-01T22:00:00Z"))
        );
        assert_eq!(
            reset_time("Your limit will reset at 5 PM (Europe/Warsaw).", now),
            Some(at("2026-11-24T16:00:00Z"))
        );
    }

    #[test]
    fn reads_dates() {
        let now = at("2026-02-13T10:00:00Z");
        assert_eq!(
            reset_time(
                "You've hit your limit · resets Feb 16, 11am (Europe/Berlin)",
                now
            ),
            Some(at("2026-02-16T10:00:00Z"))
        );
        assert_eq!(
            reset_time(
                "You've hit your weekly limit · resets Jul 31, 2am (UTC)",
                at("2026-07-27T00:00:00Z")
            ),
            Some(at("2026-07-31T02:00:00Z"))
        );
        // Late December, a reset in early January is next year's.
        assert_eq!(
            reset_time("resets Jan 2, 10am (UTC)", at("2026-12-30T00:00:00Z")),
            Some(at("2027-01-02T10:00:00Z"))
        );
    }

    #[test]
    fn unknown_zones_and_nonsense_give_no_time() {
        let now = at("2026-11-24T10:00:00Z");
        assert_eq!(reset_time("resets 9am (Mars/Olympus)", now), None);
        assert_eq!(reset_time("resets 13pm (UTC)", now), None);
        assert_eq!(reset_time("the limit is high", now), None);
    }

    #[test]
    fn classifies_by_status_then_text() {
        let now = at("2026-11-24T10:00:00Z");
        assert_eq!(
            classify(
                Some(429),
                "You've hit your session limit · resets 9am (UTC)",
                now
            ),
            Some(Failure::Quota {
                resets_at: Some(at("2026-11-25T09:00:00Z"))
            })
        );
        assert_eq!(
            classify(
                Some(429),
                "API Error: 429 rate_limit_error, retry-after: 30",
                now
            ),
            Some(Failure::Transient {
                retry_after: Some(Duration::from_secs(30))
            })
        );
        assert_eq!(
            classify(Some(529), "API Error: 529 Overloaded", now),
            Some(Failure::Transient { retry_after: None })
        );
        assert_eq!(
            classify(
                Some(401),
                "Failed to authenticate. API Error: 401 Invalid bearer token",
                now
            ),
            Some(Failure::Auth)
        );
        assert_eq!(
            classify(None, "Invalid API key · Please run /login", now),
            Some(Failure::Auth)
        );
        // The quota notice mentions /login; it is still a quota.
        assert!(matches!(
            classify(
                None,
                "You've hit your session limit · resets 5:40pm (Europe/Berlin)\n/login to switch to an API usage-billed account.",
                now
            ),
            Some(Failure::Quota { resets_at: Some(_) })
        ));
        assert_eq!(
            classify(None, "Claude AI usage limit reached|1760000400", now),
            Some(Failure::Quota {
                resets_at: Some(at("2025-10-09T09:00:00Z"))
            })
        );
        assert_eq!(
            classify(None, "Reached maximum number of turns (3)", now),
            None
        );
        assert_eq!(
            classify(Some(400), "API Error: 400 invalid_request_error", now),
            None
        );
    }

    #[test]
    fn server_errors_and_unreachable_apis_are_unavailable() {
        let now = at("2026-11-24T10:00:00Z");
        let down = |status| Some(Failure::Unavailable { status });
        assert_eq!(
            classify(
                Some(500),
                "API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway (127.0.0.1:4000).",
                now
            ),
            down(Some(500))
        );
        assert_eq!(classify(Some(503), "API Error: 503", now), down(Some(503)));
        for text in [
            // 2.1.197
            "API Error: Unable to connect to API (ConnectionRefused)",
            // 2.1.332
            "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
            "Request timed out",
            "Request timed out. If the API is slow to answer, or a proxy or gateway holds responses, set API_TIMEOUT_MS above 2000.",
            "API Error: 502 Bad Gateway",
        ] {
            assert_eq!(classify(None, text, now), down(None), "{text}");
        }
        // Overload stays a transient rate limit, with its own backoff.
        assert_eq!(
            classify(
                None,
                "API Error: 529 Overloaded. This is a server-side issue",
                now
            ),
            Some(Failure::Transient { retry_after: None })
        );
        // A refused request is neither.
        assert_eq!(
            classify(Some(400), "Credit balance is too low", now),
            Some(Failure::Auth)
        );
    }

    #[test]
    fn reads_rate_limit_event_epochs() {
        assert_eq!(
            epoch_time(&serde_json::json!(1760000400)),
            Some(at("2025-10-09T09:00:00Z"))
        );
        assert_eq!(
            epoch_time(&serde_json::json!(1760000400000_i64)),
            Some(at("2025-10-09T09:00:00Z"))
        );
        assert_eq!(epoch_time(&serde_json::json!("soon")), None);
    }
}
