//! Logs through `tracing`: human-readable on standard error (coloured on a terminal), or one
//! JSON object per line with `AITO_LOG_FORMAT=json`; `RUST_LOG` filters (`RUST_LOG=debug`,
//! `RUST_LOG=aito_core=debug,info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// For people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The format `AITO_LOG_FORMAT` asks for (`json`, else human-readable), and a complaint
    /// when its value is not understood.
    pub fn from_env_value(value: Option<&str>) -> (Self, Option<String>) {
        match value.map(|value| value.trim().to_ascii_lowercase()) {
            None => (LogFormat::Human, None),
            Some(value) if value.is_empty() || value == "human" || value == "text" => {
                (LogFormat::Human, None)
            }
            Some(value) if value == "json" => (LogFormat::Json, None),
            Some(value) => (
                LogFormat::Human,
                Some(format!(
                    "AITO_LOG_FORMAT={value:?} is not understood: expected json or human; logging for humans"
                )),
            ),
        }
    }
}

/// Installs the global subscriber. `default_filter` applies when `RUST_LOG` is unset (or
/// unreadable, which is said).
pub fn init(default_filter: &str) {
    let (format, complaint) =
        LogFormat::from_env_value(std::env::var("AITO_LOG_FORMAT").ok().as_deref());
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(err) => (
                EnvFilter::new(default_filter),
                Some(format!(
                    "RUST_LOG={text:?} is not a valid filter ({err}); using {default_filter:?}"
                )),
            ),
        },
        _ => (EnvFilter::new(default_filter), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
    };
    if installed.is_ok() {
        for complaint in complaint.into_iter().chain(bad_filter) {
            tracing::warn!("{complaint}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_chosen_by_the_variable_and_nonsense_is_reported() {
        assert_eq!(LogFormat::from_env_value(None).0, LogFormat::Human);
        assert_eq!(LogFormat::from_env_value(Some("JSON")).0, LogFormat::Json);
        let (format, complaint) = LogFormat::from_env_value(Some("xml"));
        assert_eq!(format, LogFormat::Human);
        assert!(complaint.is_some_and(|text| text.contains("xml")));
    }
}
