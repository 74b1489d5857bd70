//! File plus environment, checked, into a [`Config`]. Every problem is collected (not just the
//! first) with its place, so that one run of `aito config check` shows them all.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use aito_core::{AgentId, AgentSpec, Budget, Role, Schedule};
use aito_redis::{RedisConfig, RedisUrl};
use toml::Spanned;

use super::env::{Env, env_key};
use super::error::{ConfigError, Origin, Problem, Source};
use super::file::{AgentSection, BudgetSection, FileConfig, McpSection};
use super::{
    AgentConfig, BusSettings, Config, ConfigSource, DecisionSettings, LlmSettings, McpKind,
    McpServer, McpValue, ProfileSource, RedisSettings, Secret,
};
use crate::model::LlmChoice;

/// The company name when none is configured.
pub(super) const DEFAULT_COMPANY: &str = "acme";
/// The workspace root when none is configured.
const DEFAULT_WORKSPACES: &str = "aito-data/workspaces";
/// Where data on disk goes when none is configured.
const DEFAULT_DATA_DIR: &str = "aito-data";
/// The lease lifetimes `company.lease_ttl_secs` may ask for: at least two seconds, so that
/// renewals at a third of it have room, and at most an hour, so that a dead holder's agent is
/// taken over the same day.
const LEASE_TTL_SECS: std::ops::RangeInclusive<u64> = 2..=3600;

/// The most session records `company.sessions_keep` may ask to keep per agent.
const MAX_SESSIONS_KEEP: usize = 10_000;

/// The dashboard's address when none is configured.
const DEFAULT_DASHBOARD_BIND: &str = "127.0.0.1:8080";
/// The smallest envelope size cap: room for an envelope's own fields and a short text.
const MIN_ENVELOPE_CAP: usize = 1024;

/// The largest envelope size cap: a bound on what one message may make every process hold.
const MAX_ENVELOPE_CAP: usize = 64 * 1024 * 1024;

/// The health endpoint's address when none is configured.
const DEFAULT_HEALTH_BIND: &str = "127.0.0.1:3001";

/// Keys of MCP `env` and `headers` entries whose values are secrets.
const SECRET_WORDS: [&str; 8] = [
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "AUTHORIZATION",
    "PRIVATE",
];

pub(super) fn resolve(
    text: &str,
    source: ConfigSource,
    base: &Path,
    env: &Env,
) -> Result<Config, ConfigError> {
    let name = source.to_string();
    let located = Source { path: &name, text };
    let file: FileConfig = toml::from_str(text).map_err(|err| located.syntax_error(&err))?;
    let mut resolver = Resolver {
        source: located,
        env,
        base,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let config = resolver.config(&file, source);
    if resolver.problems.is_empty() {
        Ok(config)
    } else {
        // In the order of the file; environment variables after it.
        resolver
            .problems
            .sort_by_key(|problem| match problem.origin {
                Origin::File { line, column, .. } => (0, line, column),
                Origin::Env(_) => (1, 0, 0),
                Origin::Default => (2, 0, 0),
            });
        Err(ConfigError::Invalid {
            source_name: name.clone(),
            problems: resolver.problems,
        })
    }
}

/// A value parsed from an environment variable.
pub(super) trait FromEnv: Sized {
    fn from_env(text: &str) -> Result<Self, String>;
}

impl FromEnv for String {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl FromEnv for i64 {
    fn from_env(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("expected a whole number, saw {text:?}"))
    }
}

impl FromEnv for f64 {
    fn from_env(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("expected a number, saw {text:?}"))
    }
}

impl FromEnv for bool {
    fn from_env(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false, saw {text:?}")),
        }
    }
}

pub(super) struct Resolver<'a> {
    source: Source<'a>,
    pub(super) env: &'a Env,
    base: &'a Path,
    problems: Vec<Problem>,
    pub(super) notes: Vec<String>,
}

impl Resolver<'_> {
    pub(super) fn origin(&self, span: &Range<usize>) -> Origin {
        self.source.origin(span)
    }

    pub(super) fn problem(
        &mut self,
        origin: Origin,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            origin,
            field: field.into(),
            message: message.into(),
        });
    }

    /// The value of `field`: from the variable `var` when set, else from the file.
    pub(super) fn take<T: FromEnv + Clone>(
        &mut self,
        var: &str,
        field: &str,
        file: Option<&Spanned<T>>,
    ) -> Option<(T, Origin)> {
        if let Some(text) = self.env.get(var) {
            return match T::from_env(text) {
                Ok(value) => Some((value, Origin::Env(var.to_owned()))),
                Err(message) => {
                    self.problem(Origin::Env(var.to_owned()), field, message);
                    None
                }
            };
        }
        file.map(|value| (value.get_ref().clone(), self.origin(&value.span())))
    }

    /// A value without a position in the file: from `var` when set, else from the file.
    fn take_plain(&mut self, var: &str, file: Option<&String>) -> Option<String> {
        self.env
            .get(var)
            .map(str::to_owned)
            .or_else(|| file.cloned())
    }

    /// A list: from `var` (a TOML array, or items split on `separator`) when set, else from
    /// the file.
    pub(super) fn take_list(
        &mut self,
        var: &str,
        field: &str,
        separator: char,
        file: Option<&[Spanned<String>]>,
    ) -> Option<Vec<(String, Origin)>> {
        if let Some(text) = self.env.get(var) {
            let origin = Origin::Env(var.to_owned());
            let items = match parse_env_list(text, separator) {
                Ok(items) => items,
                Err(message) => {
                    self.problem(origin, field, message);
                    return None;
                }
            };
            return Some(
                items
                    .into_iter()
                    .map(|item| (item, origin.clone()))
                    .collect(),
            );
        }
        file.map(|items| {
            items
                .iter()
                .map(|item| (item.get_ref().clone(), self.origin(&item.span())))
                .collect()
        })
    }

    pub(super) fn path(&self, text: &str, origin: &Origin) -> PathBuf {
        let path = PathBuf::from(text);
        // Paths in the file are relative to the file; paths from the environment, like any
        // path an operator types, to the current directory.
        if path.is_absolute() || matches!(origin, Origin::Env(_)) {
            path
        } else {
            self.base.join(path)
        }
    }

    fn config(&mut self, file: &FileConfig, source: ConfigSource) -> Config {
        let company = match self.take(
            "AITO_COMPANY_NAME",
            "company.name",
            file.company.name.as_ref(),
        ) {
            Some((name, origin)) => {
                let name = name.trim().to_owned();
                if name.is_empty()
                    || name.chars().count() > 64
                    || name.chars().any(char::is_control)
                {
                    self.problem(
                        origin,
                        "company.name",
                        format!("expected 1 to 64 printable characters, saw {name:?}"),
                    );
                }
                name
            }
            None => DEFAULT_COMPANY.to_owned(),
        };
        let workspace_root = match self.take(
            "AITO_COMPANY_WORKSPACE_ROOT",
            "company.workspace_root",
            file.company.workspace_root.as_ref(),
        ) {
            Some((root, origin)) => self.path(&root, &origin),
            None => self.base.join(DEFAULT_WORKSPACES),
        };
        let data_dir = match self.take(
            "AITO_COMPANY_DATA_DIR",
            "company.data_dir",
            file.company.data_dir.as_ref(),
        ) {
            Some((dir, origin)) => self.path(&dir, &origin),
            None => self.base.join(DEFAULT_DATA_DIR),
        };
        let sessions_keep = match self.take(
            "AITO_COMPANY_SESSIONS_KEEP",
            "company.sessions_keep",
            file.company.sessions_keep.as_ref(),
        ) {
            Some((keep, origin)) => match usize::try_from(keep) {
                Ok(keep) if keep <= MAX_SESSIONS_KEEP => keep,
                _ => {
                    self.problem(
                        origin,
                        "company.sessions_keep",
                        format!("expected 0 to {MAX_SESSIONS_KEEP} records, saw {keep}"),
                    );
                    aito_core::Settings::default().sessions_keep
                }
            },
            None => aito_core::Settings::default().sessions_keep,
        };
        let lease_ttl = match self.take(
            "AITO_COMPANY_LEASE_TTL_SECS",
            "company.lease_ttl_secs",
            file.company.lease_ttl_secs.as_ref(),
        ) {
            Some((secs, origin)) => match u64::try_from(secs) {
                Ok(secs) if LEASE_TTL_SECS.contains(&secs) => Duration::from_secs(secs),
                _ => {
                    self.problem(
                        origin,
                        "company.lease_ttl_secs",
                        format!(
                            "expected {} to {} seconds, saw {secs}",
                            LEASE_TTL_SECS.start(),
                            LEASE_TTL_SECS.end()
                        ),
                    );
                    aito_core::Settings::default().lease_ttl
                }
            },
            None => aito_core::Settings::default().lease_ttl,
        };
        let context = self.context(file, matches!(source, ConfigSource::BuiltIn));
        let company_budget = self.budget(
            "AITO_COMPANY_BUDGET_",
            "company.budget",
            file.company.budget.as_ref(),
            Budget::company_default(),
        );
        let mcp = self.mcp(file);
        let agents = self.agents(file, &company, &workspace_root, &mcp);
        let redis = self.redis(file);
        let bus = self.bus(file);
        let dashboard_bind = self.address(
            &["AITO_DASHBOARD_BIND", "AITO_BIND"],
            "dashboard.bind",
            file.dashboard.bind.as_ref(),
            DEFAULT_DASHBOARD_BIND,
        );
        if let Some(token) = &file.dashboard.token {
            let origin = self.origin(&token.span());
            self.problem(
                origin,
                "dashboard.token",
                "the dashboard token is a secret and is never read from aito.toml: remove it here and set AITO_DASHBOARD_TOKEN in the environment",
            );
        }
        let dashboard_token = self.env.get("AITO_DASHBOARD_TOKEN").map(Secret::new);
        let escalation_webhook = self
            .take(
                "AITO_DASHBOARD_ESCALATION_WEBHOOK",
                "dashboard.escalation_webhook",
                file.dashboard.escalation_webhook.as_ref(),
            )
            .and_then(
                |(url, origin)| match crate::dashboard::EscalationWebhook::new(&url) {
                    Ok(webhook) => Some(webhook),
                    Err(err) => {
                        self.problem(origin, "dashboard.escalation_webhook", err.to_string());
                        None
                    }
                },
            );
        let public_url = self
            .take(
                "AITO_DASHBOARD_PUBLIC_URL",
                "dashboard.public_url",
                file.dashboard.public_url.as_ref(),
            )
            .map(|(url, _)| url);
        let (webhooks, webhook_warnings) = self.webhooks(file, &agents);
        let health_bind = self.address(
            &["AITO_HEALTH_BIND"],
            "health.bind",
            file.health.bind.as_ref(),
            DEFAULT_HEALTH_BIND,
        );
        let mut llm = self.llm(file);
        llm.router = self.router(file, &agents);
        if llm.provider == Some(LlmChoice::Router) && llm.router.is_empty() {
            self.problem(
                Origin::Default,
                "llm.provider",
                "the router needs providers: add [llm.providers.<name>] tables (docs/models.md)",
            );
        }
        let claude = self.claude(file, &mut llm);
        let decisions = self.decisions(file);
        let overrides = self.env.used();
        let mut warnings: Vec<String> = self
            .env
            .unused()
            .into_iter()
            .map(|name| {
                format!("{name} is set but no configuration field reads it (a typo? see docs/configuration.md)")
            })
            .chain(webhook_warnings)
            .collect();
        warnings.append(&mut self.notes);
        Config {
            source,
            company,
            workspace_root,
            data_dir,
            sessions_keep,
            lease_ttl,
            base: self.base.to_path_buf(),
            context,
            company_budget,
            agents,
            mcp,
            redis,
            bus,
            dashboard_bind,
            dashboard_token,
            escalation_webhook,
            public_url,
            webhooks,
            health_bind,
            llm,
            claude,
            decisions,
            overrides,
            warnings,
        }
    }

    /// `[context]`, with `AITO_CONTEXT_*` overrides; the variables alone turn it on.
    fn context(
        &mut self,
        file: &FileConfig,
        built_in: bool,
    ) -> Option<aito_context::ContextConfig> {
        let vars = [
            "AITO_CONTEXT_KNOWLEDGE",
            "AITO_CONTEXT_STORAGE",
            "AITO_CONTEXT_DIR",
            "AITO_CONTEXT_OVERSEERS",
            "AITO_CONTEXT_MAX_PASSAGES",
            "AITO_CONTEXT_HALF_LIFE_DAYS",
        ];
        let from_env = vars.iter().any(|var| self.env.get(var).is_some());
        let mut context = match &file.context {
            Some(section) => section.get_ref().clone(),
            None if from_env => aito_context::ContextConfig::default(),
            None => return None,
        };
        let list = |text: &str| -> Vec<String> {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(text) = self.env.get("AITO_CONTEXT_KNOWLEDGE") {
            context.knowledge = list(text).into_iter().map(PathBuf::from).collect();
        }
        if let Some(text) = self.env.get("AITO_CONTEXT_STORAGE") {
            match text.trim() {
                "memory" => context.storage = aito_context::config::Storage::Memory,
                "disk" => context.storage = aito_context::config::Storage::Disk,
                other => self.problem(
                    Origin::Env("AITO_CONTEXT_STORAGE".to_owned()),
                    "context.storage",
                    format!("expected memory or disk, saw {other:?}"),
                ),
            }
        }
        if let Some(text) = self.env.get("AITO_CONTEXT_DIR") {
            context.dir = PathBuf::from(text.trim());
        }
        if let Some(text) = self.env.get("AITO_CONTEXT_OVERSEERS") {
            let mut roles = Vec::new();
            for name in list(text) {
                match name.parse::<Role>() {
                    Ok(role) => roles.push(role),
                    Err(err) => self.problem(
                        Origin::Env("AITO_CONTEXT_OVERSEERS".to_owned()),
                        "context.overseers",
                        err.to_string(),
                    ),
                }
            }
            context.overseers = roles;
        }
        if let Some(text) = self.env.get("AITO_CONTEXT_MAX_PASSAGES") {
            match text.trim().parse() {
                Ok(n) => context.max_passages = n,
                Err(_) => self.problem(
                    Origin::Env("AITO_CONTEXT_MAX_PASSAGES".to_owned()),
                    "context.max_passages",
                    format!("expected a whole number, saw {text:?}"),
                ),
            }
        }
        if let Some(text) = self.env.get("AITO_CONTEXT_HALF_LIFE_DAYS") {
            match text.trim().parse::<f64>() {
                Ok(days) if days.is_finite() && days >= 0.0 => context.half_life_days = days,
                _ => self.problem(
                    Origin::Env("AITO_CONTEXT_HALF_LIFE_DAYS".to_owned()),
                    "context.half_life_days",
                    format!("expected a number of days, saw {text:?}"),
                ),
            }
        }
        if built_in && self.env.get("AITO_CONTEXT_KNOWLEDGE").is_none() {
            // The built-in configuration names the repository's folder, which is only there
            // when aito runs in a checkout: elsewhere the agents go without knowledge files.
            context.knowledge.retain(|folder| {
                let there = self.base.join(folder).is_dir();
                if !there {
                    self.notes.push(format!(
                        "no {} folder here, so the agents get no company knowledge files (the built-in configuration's [context] knowledge; see docs/context.md)",
                        folder.display()
                    ));
                }
                there
            });
        }
        for folder in &context.knowledge {
            let path = self.base.join(folder);
            if !path.is_dir() {
                let origin = match &file.context {
                    Some(section) => self.origin(&section.span()),
                    None => Origin::Env("AITO_CONTEXT_KNOWLEDGE".to_owned()),
                };
                self.problem(
                    origin,
                    "context.knowledge",
                    format!("{} is not a folder", path.display()),
                );
            }
        }
        Some(context)
    }

    fn budget(
        &mut self,
        prefix: &str,
        field: &str,
        file: Option<&BudgetSection>,
        default: Budget,
    ) -> Budget {
        let mut budget = default;
        let sessions = self.take(
            &format!("{prefix}SESSIONS_PER_HOUR"),
            &format!("{field}.sessions_per_hour"),
            file.and_then(|budget| budget.sessions_per_hour.as_ref()),
        );
        if let Some((value, origin)) = sessions {
            match u32::try_from(value) {
                Ok(value) if value > 0 => budget.sessions_per_hour = Some(value),
                _ => self.problem(
                    origin,
                    format!("{field}.sessions_per_hour"),
                    format!(
                        "expected a whole number of sessions from 1 to {}, saw {value}",
                        u32::MAX
                    ),
                ),
            }
        }
        for (name, slot) in [
            ("usd_per_hour", &mut budget.usd_per_hour),
            ("usd_per_day", &mut budget.usd_per_day),
        ] {
            let file_value = file.and_then(|budget| match name {
                "usd_per_hour" => budget.usd_per_hour.as_ref(),
                _ => budget.usd_per_day.as_ref(),
            });
            let var = format!("{prefix}{}", env_key(name));
            let path = format!("{field}.{name}");
            if let Some((value, origin)) = self.take(&var, &path, file_value) {
                if value.is_finite() && value > 0.0 {
                    *slot = Some(value);
                } else {
                    self.problem(
                        origin,
                        path,
                        format!("expected an amount of US dollars above 0, saw {value}"),
                    );
                }
            }
        }
        budget
    }

    fn address(
        &mut self,
        vars: &[&str],
        field: &str,
        file: Option<&Spanned<String>>,
        default: &str,
    ) -> SocketAddr {
        let fallback = || {
            SocketAddr::from_str(default).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
        };
        let found = vars
            .iter()
            .find_map(|var| {
                self.env
                    .get(var)
                    .map(|value| (value.to_owned(), Origin::Env((*var).to_owned())))
            })
            .or_else(|| file.map(|value| (value.get_ref().clone(), self.origin(&value.span()))));
        let Some((text, origin)) = found else {
            return fallback();
        };
        match text.trim().parse::<SocketAddr>() {
            Ok(address) => address,
            Err(_) => {
                self.problem(
                    origin,
                    field,
                    format!("expected an address with a port such as {default}, saw {text:?}"),
                );
                fallback()
            }
        }
    }

    fn agents(
        &mut self,
        file: &FileConfig,
        company: &str,
        workspace_root: &Path,
        mcp: &BTreeMap<String, McpServer>,
    ) -> Vec<AgentConfig> {
        let mut agents: Vec<AgentConfig> = Vec::new();
        let mut roles: HashMap<Role, String> = HashMap::new();
        let mut ids: HashMap<AgentId, String> = HashMap::new();
        let sections: Vec<(usize, Option<&AgentSection>, String, Origin)> =
            if file.agents.is_empty() {
                Role::BUILT_IN
                    .iter()
                    .enumerate()
                    .map(|(index, role)| (index, None, role.to_string(), Origin::Default))
                    .collect()
            } else {
                file.agents
                    .iter()
                    .enumerate()
                    .map(|(index, section)| {
                        (
                            index,
                            Some(section),
                            section.role.get_ref().clone(),
                            self.origin(&section.role.span()),
                        )
                    })
                    .collect()
            };
        for (index, section, role_text, role_origin) in sections {
            let field = format!("agents[{index}]");
            let custom = section.is_some_and(|section| section.custom);
            let role = match role_text.parse::<Role>() {
                Ok(Role::Custom(name)) if !custom => {
                    self.problem(
                        role_origin,
                        format!("{field}.role"),
                        format!(
                            "unknown role {name:?}: expected one of ceo, dao, cmo, cto, cfo, coo, cco (a role of your own needs `custom = true` in its [[agents]] entry)"
                        ),
                    );
                    continue;
                }
                Ok(role) => role,
                Err(err) => {
                    self.problem(role_origin, format!("{field}.role"), err.to_string());
                    continue;
                }
            };
            if let Some(first) = roles.get(&role) {
                let message = format!("role {role} appears twice; it is already {first}");
                self.problem(role_origin, format!("{field}.role"), message);
                continue;
            }
            roles.insert(role.clone(), format!("{field} (at {role_origin})"));
            let agent = self.agent(
                &field,
                section,
                role,
                company,
                workspace_root,
                mcp,
                &mut ids,
            );
            agents.push(agent);
        }
        if agents.is_empty() && self.problems.is_empty() {
            self.problem(Origin::Default, "agents", "the company has no agents");
        }
        agents
    }

    #[allow(clippy::too_many_arguments)] // One agent's context; a struct would only rename it.
    fn agent(
        &mut self,
        field: &str,
        section: Option<&AgentSection>,
        role: Role,
        company: &str,
        workspace_root: &Path,
        mcp: &BTreeMap<String, McpServer>,
        ids: &mut HashMap<AgentId, String>,
    ) -> AgentConfig {
        let prefix = format!("AITO_AGENTS_{}_", env_key(role.as_str()));
        let var = |name: &str| format!("{prefix}{name}");
        let mut spec = AgentSpec::new(role.clone());

        let id = match self.take(
            &var("ID"),
            &format!("{field}.id"),
            section.and_then(|s| s.id.as_ref()),
        ) {
            Some((text, origin)) => match text.trim().parse::<AgentId>() {
                Ok(id) => Some((id, origin)),
                Err(_) => {
                    self.problem(
                        origin,
                        format!("{field}.id"),
                        format!("expected a UUID such as 0ce8853f-aabe-488c-bbc2-a05f10b1cdc3, saw {text:?}"),
                    );
                    None
                }
            },
            None => Some((AgentId::derived(company, role.as_str()), Origin::Default)),
        };
        if let Some((id, id_origin)) = id {
            if let Some(first) = ids.get(&id) {
                let message = format!(
                    "duplicate agent id {id}: {first} has it already; each agent needs its own id"
                );
                self.problem(id_origin, format!("{field}.id"), message);
            } else {
                ids.insert(id, format!("{field} ({role})"));
            }
            spec.id = Some(id);
        }

        let profile = match self.take(
            &var("PROFILE"),
            &format!("{field}.profile"),
            section.and_then(|s| s.profile.as_ref()),
        ) {
            Some((text, origin)) => {
                let path = self.path(&text, &origin);
                match std::fs::read_to_string(&path) {
                    Ok(profile) if profile.trim().is_empty() => {
                        self.problem(
                            origin,
                            format!("{field}.profile"),
                            format!("the profile {} is empty", path.display()),
                        );
                        ProfileSource::BuiltIn
                    }
                    Ok(profile) => {
                        spec.profile = profile;
                        ProfileSource::File(path)
                    }
                    Err(err) => {
                        self.problem(
                            origin,
                            format!("{field}.profile"),
                            format!(
                                "cannot read the profile {text:?} ({}): {err}",
                                path.display()
                            ),
                        );
                        ProfileSource::BuiltIn
                    }
                }
            }
            None => ProfileSource::BuiltIn,
        };

        let schedules = self.take_list(
            &var("SCHEDULES"),
            &format!("{field}.schedules"),
            ';',
            section.and_then(|s| s.schedules.as_deref()),
        );
        if let Some(schedules) = schedules {
            spec.schedules.clear();
            for (index, (expression, origin)) in schedules.into_iter().enumerate() {
                match expression.parse::<Schedule>() {
                    Ok(schedule) => spec.schedules.push(schedule),
                    Err(err) => {
                        // The cron crate's reason spans lines, with a caret under its own
                        // rewriting of the expression; its last line says what is wrong.
                        let reason = err
                            .reason
                            .lines()
                            .map(str::trim)
                            .rfind(|line| !line.is_empty() && !line.starts_with('^'))
                            .unwrap_or("not a cron expression");
                        self.problem(
                            origin,
                            format!("{field}.schedules[{index}]"),
                            format!(
                                "invalid cron expression {:?}: {reason} (expected five fields: minute hour day month weekday, e.g. \"0 */6 * * *\")",
                                err.expression
                            ),
                        );
                    }
                }
            }
        }

        let servers = self
            .take_list(
                &var("MCP_SERVERS"),
                &format!("{field}.mcp_servers"),
                ',',
                section.map(|s| s.mcp_servers.as_slice()),
            )
            .unwrap_or_default();
        let mut allowed = Vec::new();
        for (index, (server, origin)) in servers.into_iter().enumerate() {
            if mcp.contains_key(&server) {
                allowed.push(server);
            } else {
                let known = if mcp.is_empty() {
                    "no MCP server is defined; add an [mcp.<name>] table".to_owned()
                } else {
                    format!(
                        "the [mcp] registry defines {}",
                        mcp.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                self.problem(
                    origin,
                    format!("{field}.mcp_servers[{index}]"),
                    format!("unknown MCP server {server:?}: {known}"),
                );
            }
        }
        spec.mcp_servers = allowed;

        let model = self.take_plain(&var("MODEL"), section.and_then(|s| s.model.as_ref()));
        spec.model = model.filter(|model| !model.trim().is_empty());

        spec.budget = self.budget(
            &var("BUDGET_"),
            &format!("{field}.budget"),
            section.and_then(|s| s.budget.as_ref()),
            Budget::default(),
        );

        let startup_var = var("RUN_ON_STARTUP");
        let run_on_startup = match self.env.get(&startup_var) {
            Some(text) => match bool::from_env(text) {
                Ok(value) => value,
                Err(message) => {
                    self.problem(
                        Origin::Env(startup_var),
                        format!("{field}.run_on_startup"),
                        message,
                    );
                    false
                }
            },
            None => section.and_then(|s| s.run_on_startup).unwrap_or(false),
        };
        spec.run_on_startup = run_on_startup;

        let workspace_var = var("WORKSPACE");
        spec.workspace = match self.env.get(&workspace_var) {
            Some(path) => Some(PathBuf::from(path)),
            None => section
                .and_then(|s| s.workspace.as_deref())
                .map(|path| self.base.join(path)),
        }
        .or_else(|| Some(workspace_root.join(role.as_str())));
        AgentConfig { spec, profile }
    }

    fn mcp(&mut self, file: &FileConfig) -> BTreeMap<String, McpServer> {
        let mut registry = BTreeMap::new();
        for (name, section) in &file.mcp {
            let origin = self.origin(&section.span());
            let field = format!("mcp.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.problem(
                    origin,
                    field,
                    "an MCP server name is letters, digits, '-' and '_'",
                );
                continue;
            }
            if let Some(server) = self.mcp_server(name, section.get_ref(), &field, &origin) {
                registry.insert(name.clone(), server);
            }
        }
        registry
    }

    fn mcp_server(
        &mut self,
        name: &str,
        section: &McpSection,
        field: &str,
        origin: &Origin,
    ) -> Option<McpServer> {
        let prefix = format!("AITO_MCP_{}_", env_key(name));
        let kind_text = self.take(
            &format!("{prefix}TYPE"),
            &format!("{field}.type"),
            section.kind.as_ref(),
        );
        let kind = match kind_text {
            None => McpKind::Stdio,
            Some((text, kind_origin)) => match text.trim().to_ascii_lowercase().as_str() {
                "stdio" => McpKind::Stdio,
                "http" => McpKind::Http,
                "sse" => McpKind::Sse,
                _ => {
                    self.problem(
                        kind_origin,
                        format!("{field}.type"),
                        format!("expected \"stdio\", \"http\" or \"sse\", saw {text:?}"),
                    );
                    return None;
                }
            },
        };
        let command = self.take_plain(&format!("{prefix}COMMAND"), section.command.as_ref());
        let args = match self.env.get(&format!("{prefix}ARGS")) {
            Some(text) => match parse_env_list(text, ' ') {
                Ok(args) => args,
                Err(message) => {
                    self.problem(
                        Origin::Env(format!("{prefix}ARGS")),
                        format!("{field}.args"),
                        message,
                    );
                    Vec::new()
                }
            },
            None => section.args.clone(),
        };
        let url = self.take_plain(&format!("{prefix}URL"), section.url.as_ref());
        let env = self.mcp_values(
            &format!("{prefix}ENV_"),
            &format!("{field}.env"),
            &section.env,
        );
        let headers = self.mcp_values(
            &format!("{prefix}HEADERS_"),
            &format!("{field}.headers"),
            &section.headers,
        );
        match kind {
            McpKind::Stdio => {
                if command
                    .as_deref()
                    .is_none_or(|command| command.trim().is_empty())
                {
                    self.problem(
                        origin.clone(),
                        field,
                        "a stdio server needs `command` (or `type = \"http\"` / `\"sse\"` with `url`)",
                    );
                    return None;
                }
                if url.is_some() || !headers.is_empty() {
                    self.problem(
                        origin.clone(),
                        field,
                        "`url` and `headers` belong to http and sse servers; set `type = \"http\"` or remove them",
                    );
                    return None;
                }
            }
            McpKind::Http | McpKind::Sse => {
                let Some(url) = url.as_deref() else {
                    self.problem(
                        origin.clone(),
                        field,
                        format!("a {} server needs `url`", kind.as_str()),
                    );
                    return None;
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    self.problem(
                        origin.clone(),
                        format!("{field}.url"),
                        format!("expected an http:// or https:// URL, saw {url:?}"),
                    );
                    return None;
                }
                if command.is_some() || !args.is_empty() || !env.is_empty() {
                    self.problem(
                        origin.clone(),
                        field,
                        format!(
                            "`command`, `args` and `env` belong to stdio servers, not to a {} server",
                            kind.as_str()
                        ),
                    );
                    return None;
                }
            }
        }
        Some(McpServer {
            kind,
            command,
            args,
            env,
            url,
            headers,
        })
    }

    /// `env` or `headers` of an MCP server: from the file (secrets only as `${VAR}`), with
    /// `<prefix><KEY>` variables adding or replacing entries.
    fn mcp_values(
        &mut self,
        prefix: &str,
        field: &str,
        file: &BTreeMap<String, Spanned<String>>,
    ) -> BTreeMap<String, McpValue> {
        let mut values = BTreeMap::new();
        for (key, value) in file {
            let text = value.get_ref();
            if looks_secret(key) && !text.contains("${") {
                let origin = self.origin(&value.span());
                self.problem(
                    origin,
                    format!("{field}.{key}"),
                    format!(
                        "this looks like a secret written into the configuration file: write `{key} = \"${{{}}}\"` and set {} in the environment (or set {prefix}{} to the value)",
                        env_key(key),
                        env_key(key),
                        env_key(key)
                    ),
                );
                continue;
            }
            values.insert(key.clone(), McpValue::Plain(text.clone()));
        }
        for (rest, value) in self.env.with_prefix(prefix) {
            let key = file
                .keys()
                .find(|key| env_key(key) == rest)
                .cloned()
                .unwrap_or(rest);
            values.insert(key, McpValue::Secret(Secret::new(value)));
        }
        values
    }

    fn redis(&mut self, file: &FileConfig) -> RedisSettings {
        let prefix = self
            .take_plain("AITO_REDIS_PREFIX", file.redis.prefix.as_ref())
            .unwrap_or_else(|| aito_redis::DEFAULT_PREFIX.to_owned());
        let url = match self.env.get("AITO_REDIS_URL") {
            Some(url) => Some((url.to_owned(), Origin::Env("AITO_REDIS_URL".to_owned()))),
            None => match &file.redis.url {
                Some(url) => {
                    let origin = self.origin(&url.span());
                    let text = url.get_ref().clone();
                    if RedisUrl::new(text.as_str()).masked() != text {
                        self.problem(
                            origin,
                            "redis.url",
                            "the URL carries a password, a secret that is never read from aito.toml: remove it here and set the whole URL in AITO_REDIS_URL",
                        );
                        None
                    } else {
                        Some((text, origin))
                    }
                }
                None => None,
            },
        };
        let url = url.and_then(|(text, origin)| {
            let url = RedisUrl::new(text.trim());
            match RedisConfig::new(url.clone()).validate() {
                Ok(()) => Some(url),
                Err(err) => {
                    self.problem(origin, "redis.url", err.to_string());
                    None
                }
            }
        });
        RedisSettings { url, prefix }
    }

    fn llm(&mut self, file: &FileConfig) -> LlmSettings {
        let section = &file.llm;
        let provider = match self.take(
            "AITO_LLM_PROVIDER",
            "llm.provider",
            section.provider.as_ref(),
        ) {
            Some((text, origin)) => match text.parse::<LlmChoice>() {
                Ok(LlmChoice::Replay(path)) => {
                    let path = self.path(&path.to_string_lossy(), &origin);
                    Some(LlmChoice::Replay(path))
                }
                Ok(choice) => Some(choice),
                Err(message) => {
                    self.problem(origin, "llm.provider", message);
                    None
                }
            },
            None => None,
        };
        let claude_binary = self
            .take_plain("AITO_LLM_CLAUDE_BINARY", section.claude_binary.as_ref())
            .unwrap_or_else(|| "claude".to_owned());
        let model = self
            .take_plain("AITO_LLM_MODEL", section.model.as_ref())
            .filter(|model| !model.trim().is_empty());
        let defaults = aito_core::Settings::default();
        let session_timeout = match self.take(
            "AITO_LLM_SESSION_TIMEOUT_SECS",
            "llm.session_timeout_secs",
            section.session_timeout_secs.as_ref(),
        ) {
            Some((secs, origin)) => match u64::try_from(secs) {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    self.problem(
                        origin,
                        "llm.session_timeout_secs",
                        format!("expected a number of seconds above 0, saw {secs}"),
                    );
                    defaults.session_timeout
                }
            },
            None => defaults.session_timeout,
        };
        let max_turns = match self.take(
            "AITO_LLM_MAX_TURNS",
            "llm.max_turns",
            section.max_turns.as_ref(),
        ) {
            Some((turns, origin)) => match u32::try_from(turns) {
                Ok(turns) if turns > 0 => Some(turns),
                _ => {
                    self.problem(
                        origin,
                        "llm.max_turns",
                        format!("expected a number of turns above 0, saw {turns}"),
                    );
                    None
                }
            },
            None => defaults.max_turns,
        };
        LlmSettings {
            provider,
            claude_binary,
            model,
            session_timeout,
            max_turns,
            router: super::providers::RouterSettings::default(),
        }
    }

    /// `[bus]`: the envelope size cap, from 1 KiB to 64 MiB.
    fn bus(&mut self, file: &FileConfig) -> BusSettings {
        let mut settings = BusSettings::default();
        if let Some((bytes, origin)) = self.take(
            "AITO_BUS_MAX_ENVELOPE_BYTES",
            "bus.max_envelope_bytes",
            file.bus.max_envelope_bytes.as_ref(),
        ) {
            match usize::try_from(bytes) {
                Ok(bytes) if (MIN_ENVELOPE_CAP..=MAX_ENVELOPE_CAP).contains(&bytes) => {
                    settings.max_envelope_bytes = bytes;
                }
                _ => self.problem(
                    origin,
                    "bus.max_envelope_bytes",
                    format!(
                        "expected a number of bytes from {MIN_ENVELOPE_CAP} (1 KiB) to {MAX_ENVELOPE_CAP} (64 MiB), saw {bytes}"
                    ),
                ),
            }
        }
        settings
    }

    fn decisions(&mut self, file: &FileConfig) -> DecisionSettings {
        let section = &file.decisions;
        let mut settings = DecisionSettings::default();
        for (name, file_value) in [
            ("minor_hours", section.minor_hours.as_ref()),
            ("major_hours", section.major_hours.as_ref()),
            ("critical_hours", section.critical_hours.as_ref()),
        ] {
            let field = format!("decisions.{name}");
            let var = format!("AITO_DECISIONS_{}", env_key(name));
            let Some((hours, origin)) = self.take(&var, &field, file_value) else {
                continue;
            };
            if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 365.0) {
                self.problem(
                    origin,
                    field,
                    format!("expected a number of hours above 0 and at most a year, saw {hours}"),
                );
                continue;
            }
            let deadline = Duration::from_secs_f64(hours * 3600.0);
            match name {
                "minor_hours" => settings.minor = deadline,
                "major_hours" => settings.major = deadline,
                _ => settings.critical = deadline,
            }
        }
        if let Some((rounds, origin)) = self.take(
            "AITO_DECISIONS_MAX_ROUNDS",
            "decisions.max_rounds",
            section.max_rounds.as_ref(),
        ) {
            match u8::try_from(rounds) {
                Ok(rounds) if (1..=10).contains(&rounds) => settings.max_rounds = rounds,
                _ => self.problem(
                    origin,
                    "decisions.max_rounds",
                    format!("expected 1 to 10 rounds, saw {rounds}"),
                ),
            }
        }
        settings
    }
}

/// Whether the key of an MCP `env` or `headers` entry names a secret.
pub(super) fn looks_secret(key: &str) -> bool {
    let key = env_key(key);
    SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// A list from an environment variable: a TOML array (`["a", "b"]`), or items split on
/// `separator` (whitespace when it is a space), trimmed, empty ones dropped.
fn parse_env_list(text: &str, separator: char) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        #[derive(serde::Deserialize)]
        struct List {
            items: Vec<String>,
        }
        return toml::from_str::<List>(&format!("items = {trimmed}"))
            .map(|list| list.items)
            .map_err(|err| format!("expected a TOML array of strings: {}", err.message()));
    }
    let items: Vec<String> = if separator == ' ' {
        trimmed.split_whitespace().map(str::to_owned).collect()
    } else {
        trimmed
            .split(separator)
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(items)
}
