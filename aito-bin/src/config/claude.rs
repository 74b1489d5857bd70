//! `[claude]`: how the Claude Code CLI is run ([`ClaudeConfig`]), with `AITO_CLAUDE_*`
//! overrides, checked like every other section.
//!
//! ```toml
//! [claude]
//! binary = "claude"            # a path (relative to this file), or a name on the PATH
//! working_dir = "/srv/aito"    # sessions only (default: each agent's workspace)
//! model = "haiku"              # for agents that name none, and for workers (the default)
//! max_retries = 2              # CLAUDE_CODE_MAX_RETRIES for the child
//! kill_grace_ms = 3000         # between SIGTERM and SIGKILL
//! silence_timeout_ms = 300000  # workers only; default: none
//! max_output_bytes = 67108864
//! max_log_event_bytes = 65536
//! extra_args = ["--settings", "/etc/aito/claude-settings.json"]
//! [claude.env]
//! DISABLE_AUTOUPDATER = "1"
//! ```
//!
//! `binary` and `model` are also `[llm] claude_binary` and `[llm] model` (the older names);
//! an environment variable beats the file, and the same field given two different values at
//! the same level is refused. Flags that aito sets on every run are refused in `extra_args`,
//! and secrets in `env`: they belong in the daemon's environment, which the CLI inherits.

use std::collections::BTreeMap;
use std::time::Duration;

use aito_claude::ClaudeConfig;
use serde::Deserialize;
use toml::Spanned;
use toml::{Table, Value};

use super::LlmSettings;
use super::error::Origin;
use super::file::FileConfig;
use super::resolve::{Resolver, looks_secret};

/// `[claude]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeSection {
    /// The `claude` program.
    pub binary: Option<Spanned<String>>,
    /// The sessions' working directory, over each agent's workspace.
    pub working_dir: Option<Spanned<String>>,
    /// The model of agents that name none, and of workers.
    pub model: Option<Spanned<String>>,
    /// `CLAUDE_CODE_MAX_RETRIES` for the child.
    pub max_retries: Option<Spanned<i64>>,
    /// Milliseconds between SIGTERM and SIGKILL.
    pub kill_grace_ms: Option<Spanned<i64>>,
    /// Workers only: milliseconds of silence before a worker is killed.
    pub silence_timeout_ms: Option<Spanned<i64>>,
    /// The most output accepted from one run (or one worker line).
    pub max_output_bytes: Option<Spanned<i64>>,
    /// Worker log events larger than this are published truncated.
    pub max_log_event_bytes: Option<Spanned<i64>>,
    /// Arguments appended to every run.
    pub extra_args: Option<Vec<Spanned<String>>>,
    /// Extra environment for the child.
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
}

/// The model of agents that name none and of workers, when `[claude] model` (or `[llm] model`)
/// does not say: the least expensive one. Without it the CLI would pick its own default, its
/// most expensive model.
pub const DEFAULT_MODEL: &str = "haiku";

/// Flags aito sets itself on every run, and why an operator must not set them again.
const MANAGED_FLAGS: &[(&str, &str)] = &[
    ("-p", "every run is headless"),
    ("--print", "every run is headless"),
    ("--output-format", "aito reads stream-json"),
    ("--input-format", "the prompt goes to stdin as text"),
    ("--verbose", "stream-json needs it and aito passes it"),
    ("--model", "set [claude] model, or an agent's model"),
    ("--max-turns", "set [llm] max_turns"),
    (
        "--system-prompt",
        "aito's prompt replaces Claude Code's own",
    ),
    (
        "--system-prompt-file",
        "aito's prompt replaces Claude Code's own",
    ),
    (
        "--append-system-prompt",
        "aito's prompt replaces Claude Code's own",
    ),
    (
        "--append-system-prompt-file",
        "aito's prompt replaces Claude Code's own",
    ),
    ("--resume", "aito decides which session is resumed"),
    ("-r", "aito decides which session is resumed"),
    ("--continue", "aito decides which session is resumed"),
    ("-c", "aito decides which session is resumed"),
    ("--session-id", "aito decides which session is resumed"),
    (
        "--no-session-persistence",
        "aito sets it unless a session is to be resumed",
    ),
    (
        "--tools",
        "sessions get no built-in tools and workers only their MCP tools",
    ),
    (
        "--mcp-config",
        "a worker gets exactly the servers its task asked for",
    ),
    ("--strict-mcp-config", "aito passes it"),
    (
        "--allowedTools",
        "a worker's tools are those of its servers",
    ),
    (
        "--allowed-tools",
        "a worker's tools are those of its servers",
    ),
    ("--safe-mode", "aito passes it to sessions"),
    ("--setting-sources", "aito passes it to workers"),
];

/// The flag an argument sets, and why it is aito's, when it is one of [`MANAGED_FLAGS`].
fn managed(arg: &str) -> Option<(&'static str, &'static str)> {
    let flag = arg.split('=').next().unwrap_or(arg);
    MANAGED_FLAGS
        .iter()
        .find(|(name, _)| *name == flag)
        .copied()
}

/// The limits of each number, for the messages.
struct Range {
    field: &'static str,
    var: &'static str,
    min: i64,
    max: i64,
    what: &'static str,
}

impl Resolver<'_> {
    /// A number of `range` from its variable or the file.
    fn claude_number(&mut self, range: &Range, file: Option<&Spanned<i64>>) -> Option<u64> {
        let (value, origin) = self.take(range.var, range.field, file)?;
        if (range.min..=range.max).contains(&value) {
            u64::try_from(value).ok()
        } else {
            self.problem(
                origin,
                range.field,
                format!(
                    "expected {} from {} to {}, saw {value}",
                    range.what, range.min, range.max
                ),
            );
            None
        }
    }

    /// One of `binary` and `model`: the variable of `[claude]`, else that of `[llm]`, else the
    /// file's `[claude]` value, else its `[llm]` value; two different values at one level are
    /// refused.
    fn claude_twin(
        &mut self,
        field: &'static str,
        vars: (&str, &str),
        files: (Option<&Spanned<String>>, Option<&String>),
        llm_field: &str,
    ) -> Option<String> {
        let from_env = (self.env_value(vars.0), self.env_value(vars.1));
        if let (Some(claude), Some(llm)) = &from_env
            && claude != llm
        {
            self.problem(
                Origin::Env(vars.0.to_owned()),
                format!("claude.{field}"),
                format!(
                    "{} and {} name two different values ({claude:?}, {llm:?}); set one",
                    vars.0, vars.1
                ),
            );
        }
        if let Some(value) = from_env.0.or(from_env.1) {
            return Some(value);
        }
        match files {
            (Some(claude), Some(llm)) if claude.get_ref() != llm => {
                let origin = self.origin(&claude.span());
                self.problem(
                    origin,
                    format!("claude.{field}"),
                    format!(
                        "[llm] {llm_field} already names {llm:?}; set it in one place ([claude] {field})"
                    ),
                );
                Some(claude.get_ref().clone())
            }
            (Some(claude), _) => Some(claude.get_ref().clone()),
            (None, llm) => llm.cloned(),
        }
    }

    /// `[claude]`, resolved; `llm` gets the program and the model it settles on.
    pub(super) fn claude(&mut self, file: &FileConfig, llm: &mut LlmSettings) -> ClaudeConfig {
        let empty = ClaudeSection::default();
        let section = file.claude.as_ref().map_or(&empty, Spanned::get_ref);
        let mut config = ClaudeConfig::default();

        let binary = self.claude_twin(
            "binary",
            ("AITO_CLAUDE_BINARY", "AITO_LLM_CLAUDE_BINARY"),
            (section.binary.as_ref(), file.llm.claude_binary.as_ref()),
            "claude_binary",
        );
        if let Some(binary) = binary {
            if binary.trim().is_empty() {
                self.problem(
                    Origin::Default,
                    "claude.binary",
                    "expected a program, saw an empty name",
                );
            } else {
                // A relative path in the file is relative to the file, one from the
                // environment to the current directory; either is made absolute, since the
                // CLI runs in another directory. A bare name is looked up on the PATH.
                let from_file = section
                    .binary
                    .as_ref()
                    .is_some_and(|b| b.get_ref() == &binary)
                    && self.env_value("AITO_CLAUDE_BINARY").is_none();
                config.binary = if binary.contains('/') {
                    let origin = if from_file {
                        Origin::Default
                    } else {
                        Origin::Env("AITO_CLAUDE_BINARY".to_owned())
                    };
                    absolute(self.path(&binary, &origin))
                } else {
                    binary.into()
                };
            }
        }
        llm.claude_binary = config.binary.display().to_string();

        let model = self.claude_twin(
            "model",
            ("AITO_CLAUDE_MODEL", "AITO_LLM_MODEL"),
            (section.model.as_ref(), file.llm.model.as_ref()),
            "model",
        );
        config.model = Some(
            model
                .filter(|model| !model.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
        );
        llm.model.clone_from(&config.model);

        if let Some((dir, origin)) = self.take(
            "AITO_CLAUDE_WORKING_DIR",
            "claude.working_dir",
            section.working_dir.as_ref(),
        ) {
            config.working_dir = Some(absolute(self.path(&dir, &origin)));
        }
        let numbers = [
            (
                Range {
                    field: "claude.max_retries",
                    var: "AITO_CLAUDE_MAX_RETRIES",
                    min: 0,
                    max: 100,
                    what: "a number of retries",
                },
                section.max_retries.as_ref(),
            ),
            (
                Range {
                    field: "claude.kill_grace_ms",
                    var: "AITO_CLAUDE_KILL_GRACE_MS",
                    min: 0,
                    max: 600_000,
                    what: "milliseconds",
                },
                section.kill_grace_ms.as_ref(),
            ),
            (
                Range {
                    field: "claude.silence_timeout_ms",
                    var: "AITO_CLAUDE_SILENCE_TIMEOUT_MS",
                    min: 1,
                    max: i64::MAX,
                    what: "milliseconds",
                },
                section.silence_timeout_ms.as_ref(),
            ),
            (
                Range {
                    field: "claude.max_output_bytes",
                    var: "AITO_CLAUDE_MAX_OUTPUT_BYTES",
                    min: 65_536,
                    max: i64::MAX,
                    what: "bytes",
                },
                section.max_output_bytes.as_ref(),
            ),
            (
                Range {
                    field: "claude.max_log_event_bytes",
                    var: "AITO_CLAUDE_MAX_LOG_EVENT_BYTES",
                    min: 256,
                    max: i64::MAX,
                    what: "bytes",
                },
                section.max_log_event_bytes.as_ref(),
            ),
        ];
        for (range, file_value) in numbers {
            let Some(value) = self.claude_number(&range, file_value) else {
                continue;
            };
            let size = usize::try_from(value).unwrap_or(usize::MAX);
            match range.field {
                "claude.max_retries" => config.max_retries = u32::try_from(value).ok(),
                "claude.kill_grace_ms" => config.kill_grace = Duration::from_millis(value),
                "claude.silence_timeout_ms" => {
                    config.silence_timeout = Some(Duration::from_millis(value));
                }
                "claude.max_output_bytes" => config.max_output_bytes = size,
                _ => config.max_log_event_bytes = size,
            }
        }

        let args = self.take_list(
            "AITO_CLAUDE_EXTRA_ARGS",
            "claude.extra_args",
            ' ',
            section.extra_args.as_deref(),
        );
        for (arg, origin) in args.unwrap_or_default() {
            if let Some((flag, why)) = managed(&arg) {
                self.problem(
                    origin,
                    "claude.extra_args",
                    format!("{flag} is set by aito on every run ({why}); remove it"),
                );
            } else {
                config.extra_args.push(arg);
            }
        }

        for (key, value) in &section.env {
            let origin = self.origin(&value.span());
            if !valid_name(key) {
                self.problem(
                    origin,
                    "claude.env",
                    format!("{key:?} is not an environment variable name (A-Z, 0-9, _)"),
                );
            } else if looks_secret(key) {
                self.problem(
                    origin,
                    "claude.env",
                    format!(
                        "{key} is a secret and is never read from aito.toml: set it in the environment of aito, which the CLI inherits"
                    ),
                );
            } else {
                config.env.insert(key.clone(), value.get_ref().clone());
            }
        }
        for (key, value) in self.env.with_prefix("AITO_CLAUDE_ENV_") {
            if valid_name(&key) {
                config.env.insert(key, value);
            } else {
                self.problem(
                    Origin::Env(format!("AITO_CLAUDE_ENV_{key}")),
                    "claude.env",
                    format!("{key:?} is not an environment variable name (A-Z, 0-9, _)"),
                );
            }
        }
        config
    }

    fn env_value(&self, var: &str) -> Option<String> {
        self.env.get(var).map(str::to_owned)
    }
}

/// `path` made absolute against the current directory (the file system is not touched).
fn absolute(path: std::path::PathBuf) -> std::path::PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[claude]` as `aito config check` shows it; values of secret-looking variables masked.
pub(super) fn render(config: &ClaudeConfig) -> Value {
    let mut table = Table::new();
    table.insert(
        "binary".into(),
        Value::String(config.binary.display().to_string()),
    );
    table.insert(
        "working_dir".into(),
        Value::String(match &config.working_dir {
            Some(dir) => dir.display().to_string(),
            None => "(each agent's workspace; workers: a scratch directory)".to_owned(),
        }),
    );
    table.insert(
        "model".into(),
        Value::String(
            config
                .model
                .clone()
                .unwrap_or_else(|| "(the CLI's default)".to_owned()),
        ),
    );
    let millis = |duration: Duration| {
        Value::Integer(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
    };
    let count = |n: usize| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    match config.max_retries {
        Some(retries) => table.insert("max_retries".into(), Value::Integer(i64::from(retries))),
        None => table.insert(
            "max_retries".into(),
            Value::String("(the CLI's default)".into()),
        ),
    };
    table.insert("kill_grace_ms".into(), millis(config.kill_grace));
    if let Some(silence) = config.silence_timeout {
        table.insert("silence_timeout_ms".into(), millis(silence));
    }
    table.insert("max_output_bytes".into(), count(config.max_output_bytes));
    table.insert(
        "max_log_event_bytes".into(),
        count(config.max_log_event_bytes),
    );
    table.insert(
        "extra_args".into(),
        Value::Array(
            config
                .extra_args
                .iter()
                .map(|arg| Value::String(arg.clone()))
                .collect(),
        ),
    );
    table.insert(
        "env".into(),
        Value::Table(
            config
                .env
                .iter()
                .map(|(key, value)| {
                    let shown = if looks_secret(key) {
                        "*** (from the environment)".to_owned()
                    } else {
                        value.clone()
                    };
                    (key.clone(), Value::String(shown))
                })
                .collect(),
        ),
    );
    Value::Table(table)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{Config, ConfigError, ConfigSource, Env, Problem};

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_text(
            text,
            ConfigSource::File(PathBuf::from("aito.toml")),
            Path::new("/srv/aito"),
            &Env::from_pairs(env.iter().copied()),
        )
    }

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<Problem> {
        match resolve(text, env) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn every_documented_field_is_read() {
        let config = resolve(
            r#"
[claude]
binary = "bin/claude"
working_dir = "work"
model = "haiku"
max_retries = 4
kill_grace_ms = 500
silence_timeout_ms = 60000
max_output_bytes = 1048576
max_log_event_bytes = 4096
extra_args = ["--settings", "/etc/aito/claude.json"]
[claude.env]
DISABLE_AUTOUPDATER = "1"
"#,
            &[],
        )
        .expect("valid");
        let claude = &config.claude;
        assert_eq!(claude.binary, PathBuf::from("/srv/aito/bin/claude"));
        assert_eq!(claude.working_dir, Some(PathBuf::from("/srv/aito/work")));
        assert_eq!(claude.model.as_deref(), Some("haiku"));
        assert_eq!(claude.max_retries, Some(4));
        assert_eq!(claude.kill_grace, std::time::Duration::from_millis(500));
        assert_eq!(
            claude.silence_timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(claude.max_output_bytes, 1_048_576);
        assert_eq!(claude.max_log_event_bytes, 4096);
        assert_eq!(claude.extra_args, ["--settings", "/etc/aito/claude.json"]);
        assert_eq!(claude.env["DISABLE_AUTOUPDATER"], "1");
        // The rest of the configuration sees the same program and model.
        assert_eq!(config.llm.claude_binary, "/srv/aito/bin/claude");
        assert_eq!(config.llm.model.as_deref(), Some("haiku"));
        let shown = config.render();
        assert!(shown.contains("[claude]"), "{shown}");
        assert!(shown.contains("max_retries = 4"), "{shown}");
    }

    #[test]
    fn without_a_section_the_defaults_and_the_llm_names_apply() {
        let config = resolve(
            "[llm]\nclaude_binary = \"/opt/claude\"\nmodel = \"sonnet\"\n",
            &[],
        )
        .expect("valid");
        assert_eq!(config.claude.binary, PathBuf::from("/opt/claude"));
        assert_eq!(config.claude.model.as_deref(), Some("sonnet"));
        assert_eq!(config.claude.max_retries, Some(2));
        let config = resolve("", &[]).expect("valid");
        assert_eq!(config.claude.binary, PathBuf::from("claude"));
        // Never the CLI's own default, its most expensive model.
        assert_eq!(config.claude.model.as_deref(), Some(super::DEFAULT_MODEL));
    }

    #[test]
    fn the_built_in_configuration_names_a_model_chosen_for_cost_for_every_role() {
        let config = Config::from_text(
            super::super::DEFAULT_TOML,
            ConfigSource::BuiltIn,
            Path::new("."),
            &Env::default(),
        )
        .expect("valid");
        let model = |role: &str| {
            config
                .agent(role)
                .and_then(|agent| agent.spec.model.clone())
        };
        for role in ["ceo", "dao", "cto"] {
            assert_eq!(model(role).as_deref(), Some("sonnet"), "{role}");
        }
        for role in ["cmo", "cfo", "coo", "cco"] {
            assert_eq!(model(role).as_deref(), Some("haiku"), "{role}");
        }
        assert_eq!(config.claude.model.as_deref(), Some("haiku"));
        // A user changes them like any field.
        let config = Config::from_text(
            super::super::DEFAULT_TOML,
            ConfigSource::BuiltIn,
            Path::new("."),
            &Env::from_pairs([("AITO_AGENTS_CEO_MODEL", "opus")]),
        )
        .expect("valid");
        assert_eq!(
            config
                .agent("ceo")
                .and_then(|agent| agent.spec.model.clone())
                .as_deref(),
            Some("opus")
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let config = resolve(
            "[claude]\nmodel = \"haiku\"\nmax_retries = 1\n",
            &[
                ("AITO_CLAUDE_MODEL", "opus"),
                ("AITO_CLAUDE_MAX_RETRIES", "0"),
                ("AITO_CLAUDE_EXTRA_ARGS", "--settings /x.json"),
                ("AITO_CLAUDE_ENV_MCP_TIMEOUT", "20000"),
                ("AITO_CLAUDE_ENV_ANTHROPIC_API_KEY", "sk-secret"),
            ],
        )
        .expect("valid");
        assert_eq!(config.claude.model.as_deref(), Some("opus"));
        assert_eq!(config.claude.max_retries, Some(0));
        assert_eq!(config.claude.extra_args, ["--settings", "/x.json"]);
        assert_eq!(config.claude.env["MCP_TIMEOUT"], "20000");
        let shown = config.render();
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn mistakes_are_refused_with_their_place() {
        let found = problems(
            r#"
[llm]
claude_binary = "claude"

[claude]
binary = "/opt/other-claude"
max_retries = -1
kill_grace_ms = 900000
extra_args = ["--tools", "Bash", "--output-format=text"]
[claude.env]
ANTHROPIC_API_KEY = "sk-literal"
"BAD NAME" = "x"
"#,
            &[],
        );
        let fields: Vec<(&str, usize)> = found
            .iter()
            .map(|problem| {
                let line = match &problem.origin {
                    super::Origin::File { line, .. } => *line,
                    _ => 0,
                };
                (problem.field.as_str(), line)
            })
            .collect();
        assert!(fields.contains(&("claude.binary", 6)), "{found:#?}");
        assert!(fields.contains(&("claude.max_retries", 7)), "{found:#?}");
        assert!(fields.contains(&("claude.kill_grace_ms", 8)), "{found:#?}");
        assert_eq!(
            fields
                .iter()
                .filter(|(field, _)| *field == "claude.extra_args")
                .count(),
            2,
            "{found:#?}"
        );
        let env: Vec<&Problem> = found.iter().filter(|p| p.field == "claude.env").collect();
        assert_eq!(env.len(), 2, "{found:#?}");
        assert!(env.iter().any(|p| p.message.contains("is a secret")));
        assert!(!format!("{found:?}").contains("sk-literal"));
        // An unknown key, as in every section.
        match resolve("[claude]\nbinnary = \"x\"\n", &[]) {
            Err(error) => assert!(error.to_string().contains("binnary"), "{error}"),
            Ok(_) => panic!("an unknown key is refused"),
        }
    }
}
