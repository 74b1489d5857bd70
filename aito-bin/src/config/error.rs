//! Why a configuration was refused. Every message names the file, line and field, or the
//! environment variable, that is wrong, and what was expected.

use std::fmt;
use std::ops::Range;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A place in the configuration file (1-based line and column).
    File {
        /// The file as named.
        path: String,
        /// Line.
        line: usize,
        /// Column, in characters.
        column: usize,
    },
    /// An environment variable.
    Env(String),
    /// A built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Default => f.write_str("built-in default"),
        }
    }
}

/// One thing wrong with a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the bad value is.
    pub origin: Origin,
    /// The field, as a path (`agents[2].schedules[0]`).
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.field, self.message)
    }
}

/// A configuration that cannot be used. Nothing starts with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key or value of the wrong kind.
    #[error("{path}:{line}:{column}: {}{message}\n{excerpt}", field.as_deref().map(|field| format!("{field}: ")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// The field, when the line names one.
        field: Option<String>,
        /// What the parser says.
        message: String,
        /// The offending line, numbered.
        excerpt: String,
    },
    /// Values that parse but cannot be used.
    #[error("{source_name} has {} problem{}:\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, list(problems))]
    Invalid {
        /// The file, or "the built-in configuration".
        source_name: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  - {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of a configuration file, to turn byte offsets into lines and fields.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file as named in messages.
    pub path: &'a str,
    /// Its text.
    pub text: &'a str,
}

impl Source<'_> {
    /// The 1-based line and column of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = before
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// Where `span` starts.
    pub fn origin(&self, span: &Range<usize>) -> Origin {
        let (line, column) = self.position(span.start);
        Origin::File {
            path: self.path.to_owned(),
            line,
            column,
        }
    }

    /// The line holding byte `offset`, numbered, with a caret under the column.
    pub fn excerpt(&self, offset: usize) -> String {
        let (line, column) = self.position(offset);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let number = line.to_string();
        format!(
            "{number} | {text}\n{} | {}^",
            " ".repeat(number.len()),
            " ".repeat(column.saturating_sub(1))
        )
    }

    /// The field at byte `offset`: the key on that line, inside the table opened last before
    /// it (`agents[1].budget.usd_per_day`).
    pub fn field_at(&self, offset: usize) -> Option<String> {
        let (line, _) = self.position(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let current = lines.get(line - 1)?.trim();
        let key = if current.starts_with('[') {
            None
        } else {
            current
                .split_once('=')
                .map(|(key, _)| key.trim().trim_matches('"').to_owned())
        };
        let mut table: Option<String> = None;
        for (index, text) in lines.iter().enumerate().take(line).rev() {
            let text = text.trim();
            if let Some(name) = text
                .strip_prefix("[[")
                .and_then(|rest| rest.split_once("]]"))
                .map(|(name, _)| name.trim())
            {
                let count = lines[..=index]
                    .iter()
                    .filter(|other| {
                        other
                            .trim()
                            .strip_prefix("[[")
                            .and_then(|rest| rest.split_once("]]"))
                            .is_some_and(|(other, _)| other.trim() == name)
                    })
                    .count();
                table = Some(format!("{name}[{}]", count - 1));
                break;
            }
            if let Some(name) = text
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .map(|(name, _)| name.trim())
            {
                // `[agents.budget]` after `[[agents]]` belongs to the last agent.
                let parent = lines[..index]
                    .iter()
                    .rev()
                    .map(|line| line.trim())
                    .find_map(|line| {
                        line.strip_prefix("[[")
                            .and_then(|rest| rest.split_once("]]"))
                            .map(|(parent, _)| parent.trim())
                    })
                    .filter(|parent| name.starts_with(&format!("{parent}.")));
                table = Some(match parent {
                    Some(parent) => {
                        let count = lines[..index]
                            .iter()
                            .filter(|line| {
                                line.trim()
                                    .strip_prefix("[[")
                                    .and_then(|rest| rest.split_once("]]"))
                                    .is_some_and(|(other, _)| other.trim() == parent)
                            })
                            .count();
                        format!(
                            "{parent}[{}]{}",
                            count.saturating_sub(1),
                            &name[parent.len()..]
                        )
                    }
                    None => name.to_owned(),
                });
                break;
            }
        }
        match (table, key) {
            (Some(table), Some(key)) => Some(format!("{table}.{key}")),
            (Some(table), None) => Some(table),
            (None, key) => key,
        }
    }

    /// A syntax error from the TOML parser, placed.
    pub fn syntax_error(&self, error: &toml::de::Error) -> ConfigError {
        let offset = error.span().map_or(0, |span| span.start);
        let (line, column) = self.position(offset);
        ConfigError::Syntax {
            path: self.path.to_owned(),
            line,
            column,
            field: self.field_at(offset),
            message: error.message().trim().to_owned(),
            excerpt: self.excerpt(offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_fields_follow_tables() {
        let text = "[company]\nname = \"x\"\n\n[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cto\"\n[agents.budget]\nusd_per_day = -1\n";
        let source = Source {
            path: "aito.toml",
            text,
        };
        let offset = text.find("-1").expect("offset");
        assert_eq!(source.position(offset), (10, 15));
        assert_eq!(
            source.field_at(offset).as_deref(),
            Some("agents[1].budget.usd_per_day")
        );
        let offset = text.find("\"cto\"").expect("offset");
        assert_eq!(source.field_at(offset).as_deref(), Some("agents[1].role"));
        let offset = text.find("\"x\"").expect("offset");
        assert_eq!(source.field_at(offset).as_deref(), Some("company.name"));
        assert!(source.excerpt(offset).starts_with("2 | name = \"x\""));
    }
}
