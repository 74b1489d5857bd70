//! The CLI's flags in print mode, parsed and checked as Claude Code 2.1.x does: unknown
//! options, missing values, invalid choices and the `--verbose` rule are usage errors with the
//! real messages.

use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Flag,
    Value(&'static str),
    Optional(&'static str),
    Variadic(&'static str),
}

/// The CLI's options in print mode: canonical name, aliases, arity.
const OPTIONS: &[(&str, &[&str], Arity)] = &[
    ("print", &["-p", "--print"], Arity::Flag),
    (
        "output-format",
        &["--output-format"],
        Arity::Value("format"),
    ),
    ("input-format", &["--input-format"], Arity::Value("format")),
    ("verbose", &["--verbose"], Arity::Flag),
    ("debug", &["-d", "--debug"], Arity::Optional("filter")),
    ("debug-file", &["--debug-file"], Arity::Value("path")),
    (
        "include-partial-messages",
        &["--include-partial-messages"],
        Arity::Flag,
    ),
    (
        "replay-user-messages",
        &["--replay-user-messages"],
        Arity::Flag,
    ),
    (
        "include-hook-events",
        &["--include-hook-events"],
        Arity::Flag,
    ),
    ("model", &["--model"], Arity::Value("model")),
    (
        "fallback-model",
        &["--fallback-model"],
        Arity::Value("model"),
    ),
    ("max-turns", &["--max-turns"], Arity::Value("turns")),
    (
        "max-budget-usd",
        &["--max-budget-usd"],
        Arity::Value("amount"),
    ),
    (
        "system-prompt",
        &["--system-prompt"],
        Arity::Value("prompt"),
    ),
    (
        "system-prompt-file",
        &["--system-prompt-file"],
        Arity::Value("file"),
    ),
    (
        "append-system-prompt",
        &["--append-system-prompt"],
        Arity::Value("prompt"),
    ),
    (
        "append-system-prompt-file",
        &["--append-system-prompt-file"],
        Arity::Value("file"),
    ),
    (
        "mcp-config",
        &["--mcp-config"],
        Arity::Variadic("configs..."),
    ),
    ("strict-mcp-config", &["--strict-mcp-config"], Arity::Flag),
    (
        "allowed-tools",
        &["--allowedTools", "--allowed-tools"],
        Arity::Variadic("tools..."),
    ),
    (
        "disallowed-tools",
        &["--disallowedTools", "--disallowed-tools"],
        Arity::Variadic("tools..."),
    ),
    ("tools", &["--tools"], Arity::Variadic("tools...")),
    (
        "permission-mode",
        &["--permission-mode"],
        Arity::Value("mode"),
    ),
    (
        "dangerously-skip-permissions",
        &["--dangerously-skip-permissions"],
        Arity::Flag,
    ),
    (
        "permission-prompt-tool",
        &["--permission-prompt-tool"],
        Arity::Value("tool"),
    ),
    ("resume", &["-r", "--resume"], Arity::Optional("value")),
    ("continue", &["-c", "--continue"], Arity::Flag),
    ("fork-session", &["--fork-session"], Arity::Flag),
    ("session-id", &["--session-id"], Arity::Value("uuid")),
    (
        "no-session-persistence",
        &["--no-session-persistence"],
        Arity::Flag,
    ),
    ("add-dir", &["--add-dir"], Arity::Variadic("directories...")),
    ("settings", &["--settings"], Arity::Value("file-or-json")),
    (
        "setting-sources",
        &["--setting-sources"],
        Arity::Value("sources"),
    ),
    ("safe-mode", &["--safe-mode"], Arity::Flag),
    ("bare", &["--bare"], Arity::Flag),
    (
        "disable-slash-commands",
        &["--disable-slash-commands"],
        Arity::Flag,
    ),
    (
        "exclude-dynamic-system-prompt-sections",
        &["--exclude-dynamic-system-prompt-sections"],
        Arity::Flag,
    ),
    ("agents", &["--agents"], Arity::Value("json")),
    ("name", &["-n", "--name"], Arity::Value("name")),
    ("json-schema", &["--json-schema"], Arity::Value("schema")),
    ("effort", &["--effort"], Arity::Value("level")),
    (
        "max-thinking-tokens",
        &["--max-thinking-tokens"],
        Arity::Value("tokens"),
    ),
    ("betas", &["--betas"], Arity::Variadic("betas...")),
    ("plugin-dir", &["--plugin-dir"], Arity::Value("path")),
    ("version", &["-v", "--version"], Arity::Flag),
    ("help", &["-h", "--help"], Arity::Flag),
];

/// The parsed command line: option name to its values (flags have one empty value).
#[derive(Default)]
pub(crate) struct Parsed {
    options: BTreeMap<&'static str, Vec<String>>,
    pub(crate) positional: Vec<String>,
}

impl Parsed {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }

    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name)?.last().map(String::as_str)
    }

    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.options.get(name).cloned().unwrap_or_default()
    }

    /// The words of a list option (`--allowedTools a,b c`), split on commas and spaces.
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        let values = self.options.get(name)?;
        Some(
            values
                .iter()
                .flat_map(|value| value.split([',', ' ']))
                .map(str::trim)
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

fn usage_name(alias: &str, arity: Arity) -> String {
    match arity {
        Arity::Flag => alias.to_owned(),
        Arity::Value(v) | Arity::Variadic(v) => format!("{alias} <{v}>"),
        Arity::Optional(v) => format!("{alias} [{v}]"),
    }
}

pub(crate) fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            parsed.positional.extend(args[i..].iter().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            parsed.positional.push(arg.clone());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some(&(name, aliases, arity)) = OPTIONS
            .iter()
            .find(|(_, aliases, _)| aliases.contains(&flag))
        else {
            return Err(format!("error: unknown option '{arg}'"));
        };
        let shown = usage_name(aliases.last().copied().unwrap_or(flag), arity);
        let values = parsed.options.entry(name).or_default();
        match arity {
            Arity::Flag => {
                if inline.is_some() {
                    return Err(format!("error: option '{shown}' does not take an argument"));
                }
                values.push(String::new());
            }
            Arity::Value(_) => match inline.or_else(|| {
                let next = args.get(i).cloned();
                i += usize::from(next.is_some());
                next
            }) {
                Some(value) => values.push(value),
                None => return Err(format!("error: option '{shown}' argument missing")),
            },
            Arity::Optional(_) => match inline {
                Some(value) => values.push(value),
                None => match args.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        values.push(next.clone());
                        i += 1;
                    }
                    _ => values.push(String::new()),
                },
            },
            Arity::Variadic(_) => {
                let before = values.len();
                if let Some(value) = inline {
                    values.push(value);
                }
                while let Some(next) = args.get(i).filter(|next| !next.starts_with('-')) {
                    values.push(next.clone());
                    i += 1;
                }
                if values.len() == before {
                    return Err(format!("error: option '{shown}' argument missing"));
                }
            }
        }
    }
    Ok(parsed)
}

fn check_choice(parsed: &Parsed, name: &str, shown: &str, choices: &[&str]) -> Result<(), String> {
    match parsed.value(name) {
        Some(value) if !choices.contains(&value) => Err(format!(
            "error: option '{shown}' argument '{value}' is invalid. Allowed choices are {}.",
            choices.join(", ")
        )),
        _ => Ok(()),
    }
}

/// The checks the CLI makes before it reads its input.
pub(crate) fn validate(parsed: &Parsed) -> Result<(), String> {
    check_choice(
        parsed,
        "output-format",
        "--output-format <format>",
        &["text", "json", "stream-json"],
    )?;
    check_choice(
        parsed,
        "input-format",
        "--input-format <format>",
        &["text", "stream-json"],
    )?;
    check_choice(
        parsed,
        "permission-mode",
        "--permission-mode <mode>",
        &[
            "acceptEdits",
            "auto",
            "bypassPermissions",
            "default",
            "dontAsk",
            "plan",
        ],
    )?;
    // Any number is accepted (0, -1 and 2.5 included); only words are refused.
    if let Some(turns) = parsed.value("max-turns")
        && turns.trim().parse::<f64>().is_err()
    {
        return Err(format!(
            "error: option '--max-turns <turns>' argument '{turns}' is invalid. must be a number"
        ));
    }
    if let Some(id) = parsed.value("session-id")
        && !looks_like_uuid(id)
    {
        return Err("Error: Invalid session ID. Must be a valid UUID.".to_owned());
    }
    if !parsed.has("print") {
        return Err("fake-claude: only print mode (-p) is supported".to_owned());
    }
    if parsed.value("output-format") == Some("stream-json") && !parsed.has("verbose") {
        return Err(
            "Error: When using --print, --output-format=stream-json requires --verbose".to_owned(),
        );
    }
    if parsed.has("dangerously-skip-permissions")
        && rustix::process::geteuid().is_root()
        && std::env::var_os("IS_SANDBOX").is_none()
    {
        return Err(
            "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"
                .to_owned(),
        );
    }
    Ok(())
}

/// The CLI's refusal of a `--resume` value that is neither a session id nor a session title.
pub(crate) fn check_resume(parsed: &Parsed) -> Result<(), String> {
    match parsed.value("resume") {
        Some(value) if !value.is_empty() && !looks_like_uuid(value) => Err(format!(
            "Error: --resume requires a valid session ID or session title when used with --print. Usage: claude -p --resume <session-id|title>. Provided value \"{value}\" is not a UUID and does not match any session title."
        )),
        _ => Ok(()),
    }
}

pub(crate) fn looks_like_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}
