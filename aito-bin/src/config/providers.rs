//! `[llm.providers.<name>]` and `[[llm.rules]]`: the model providers a router chooses among,
//! and the rules by which it chooses (docs/models.md).
//!
//! ```toml
//! [llm]
//! provider = "router"                   # the default when providers are configured
//! order = ["strong", "local"]           # when no rule matches (default: as written)
//!
//! [llm.providers.strong]
//! type = "anthropic"                    # anthropic | openai | claude
//! model = "claude-sonnet-4-5"
//! api_key_env = "ANTHROPIC_API_KEY"     # the default for anthropic
//! [llm.providers.strong.prices.claude-sonnet-4-5]
//! input = 3.0                           # USD per million tokens
//! output = 15.0
//!
//! [llm.providers.local]
//! type = "openai"
//! base_url = "http://localhost:11434/v1"
//! model = "qwen2.5:7b"
//!
//! [[llm.rules]]
//! kinds = ["scheduled"]                 # scheduled, message, vote, decision, worker
//! providers = ["local", "strong"]       # the first, then the fallbacks
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use aito_core::{Role, SessionKind, Tier};
use aito_models::{ApiConfig, Price, Rule};
use serde::Deserialize;
use toml::Spanned;

use super::AgentConfig;
use super::file::FileConfig;
use super::resolve::Resolver;

/// One `[llm.providers.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// `anthropic`, `openai` or `claude`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// The API's base URL.
    pub base_url: Option<Spanned<String>>,
    /// The model asked for when the agent names none.
    pub model: Option<Spanned<String>>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<Spanned<String>>,
    /// `max_tokens` of each call.
    pub max_tokens: Option<Spanned<i64>>,
    /// Seconds a call may go without a byte before it counts as hung.
    pub idle_timeout_secs: Option<Spanned<i64>>,
    /// Retries of a call that got a 429, 529, 5xx or no connection.
    pub retries: Option<Spanned<i64>>,
    /// The longest `retry-after` waited out before falling back.
    pub max_retry_wait_secs: Option<Spanned<i64>>,
    /// USD per million tokens, per model.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
}

/// One `[[llm.rules]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// Roles it applies to; none: every agent.
    #[serde(default)]
    pub agents: Vec<Spanned<String>>,
    /// Session kinds it applies to; none: every kind.
    #[serde(default)]
    pub kinds: Vec<Spanned<String>>,
    /// Decision tiers it applies to; none: every session.
    #[serde(default)]
    pub tiers: Vec<Spanned<String>>,
    /// The providers, in order.
    pub providers: Spanned<Vec<String>>,
}

/// What a provider is.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderKind {
    /// The Anthropic Messages API.
    Anthropic(ApiConfig),
    /// An OpenAI-compatible Chat Completions API.
    OpenAi(ApiConfig),
    /// The Claude Code CLI, as `[claude]` configures it.
    Claude,
}

/// One provider, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSettings {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: ProviderKind,
    /// The environment variable with its API key.
    pub api_key_env: Option<String>,
}

/// The router's providers and rules, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouterSettings {
    /// The providers, in the file's order.
    pub providers: Vec<ProviderSettings>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// The order when no rule matches.
    pub order: Vec<String>,
}

impl RouterSettings {
    /// Whether any provider is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

impl Resolver<'_> {
    fn count(&mut self, value: Option<&Spanned<i64>>, field: &str, min: i64) -> Option<u64> {
        let value = value?;
        match u64::try_from(*value.get_ref()) {
            Ok(n) if *value.get_ref() >= min => Some(n),
            _ => {
                let origin = self.origin(&value.span());
                self.problem(
                    origin,
                    field,
                    format!(
                        "expected a whole number of at least {min}, saw {}",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn provider(&mut self, name: &str, section: &ProviderSection) -> Option<ProviderSettings> {
        let field = format!("llm.providers.{name}");
        let kind = section.kind.get_ref().trim().to_ascii_lowercase();
        let text = |value: &Option<Spanned<String>>| {
            value
                .as_ref()
                .map(|value| value.get_ref().trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let api = |resolver: &mut Self, default_url: Option<&str>| -> Option<ApiConfig> {
            let Some(model) = text(&section.model) else {
                let origin = resolver.origin(&section.kind.span());
                resolver.problem(
                    origin,
                    format!("{field}.model"),
                    "an API provider needs a model",
                );
                return None;
            };
            let Some(base_url) = text(&section.base_url).or(default_url.map(str::to_owned)) else {
                let origin = resolver.origin(&section.kind.span());
                resolver.problem(
                    origin,
                    format!("{field}.base_url"),
                    "an OpenAI-compatible provider needs a base_url (http://localhost:11434/v1 for Ollama, https://api.openai.com/v1 for OpenAI)",
                );
                return None;
            };
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                let span = section
                    .base_url
                    .as_ref()
                    .map_or(section.kind.span(), Spanned::span);
                let origin = resolver.origin(&span);
                resolver.problem(
                    origin,
                    format!("{field}.base_url"),
                    format!("expected an http:// or https:// URL, saw {base_url:?}"),
                );
                return None;
            }
            let mut config = ApiConfig::new(name, base_url, model);
            if let Some(n) = resolver.count(
                section.max_tokens.as_ref(),
                &format!("{field}.max_tokens"),
                1,
            ) {
                config.max_tokens = u32::try_from(n).unwrap_or(u32::MAX);
            }
            if let Some(n) = resolver.count(
                section.idle_timeout_secs.as_ref(),
                &format!("{field}.idle_timeout_secs"),
                1,
            ) {
                config.idle_timeout = Duration::from_secs(n);
            }
            if let Some(n) =
                resolver.count(section.retries.as_ref(), &format!("{field}.retries"), 0)
            {
                config.retries = u32::try_from(n).unwrap_or(u32::MAX);
            }
            if let Some(n) = resolver.count(
                section.max_retry_wait_secs.as_ref(),
                &format!("{field}.max_retry_wait_secs"),
                0,
            ) {
                config.max_retry_wait = Duration::from_secs(n);
            }
            for (model, price) in &section.prices {
                let rates = [
                    Some(price.input),
                    Some(price.output),
                    price.cache_read,
                    price.cache_write,
                ];
                if rates
                    .iter()
                    .flatten()
                    .any(|rate| !rate.is_finite() || *rate < 0.0)
                {
                    let origin = resolver.origin(&section.kind.span());
                    resolver.problem(
                        origin,
                        format!("{field}.prices.{model}"),
                        "prices are USD per million tokens, 0 or more",
                    );
                }
                config.prices.insert(model.clone(), *price);
            }
            Some(config)
        };
        let (kind, default_key) = match kind.as_str() {
            "anthropic" => (
                ProviderKind::Anthropic(api(self, Some("https://api.anthropic.com"))?),
                Some("ANTHROPIC_API_KEY"),
            ),
            "openai" => (ProviderKind::OpenAi(api(self, None)?), None),
            "claude" => (ProviderKind::Claude, None),
            other => {
                let origin = self.origin(&section.kind.span());
                self.problem(
                    origin,
                    format!("{field}.type"),
                    format!("expected \"anthropic\", \"openai\" or \"claude\", saw {other:?}"),
                );
                return None;
            }
        };
        let api_key_env = text(&section.api_key_env).or(default_key.map(str::to_owned));
        if let Some(var) = &api_key_env
            && std::env::var_os(var).is_none()
        {
            self.notes.push(format!(
                "provider {name}: the API key variable {var} is not set here; the provider needs it where aito runs"
            ));
        }
        Some(ProviderSettings {
            name: name.to_owned(),
            kind,
            api_key_env,
        })
    }

    /// `[llm.providers]`, `[[llm.rules]]` and `[llm] order`, checked against each other and
    /// against the company's agents.
    pub(super) fn router(&mut self, file: &FileConfig, agents: &[AgentConfig]) -> RouterSettings {
        let mut providers = Vec::new();
        for (name, section) in &file.llm.providers {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                let origin = self.origin(&section.span());
                self.problem(
                    origin,
                    format!("llm.providers.{name}"),
                    "a provider name is letters, digits, '-' and '_'",
                );
                continue;
            }
            if let Some(provider) = self.provider(name, section.get_ref()) {
                providers.push(provider);
            }
        }
        let names: Vec<String> = file.llm.providers.keys().cloned().collect();
        let roles: Vec<Role> = agents.iter().map(|agent| agent.spec.role.clone()).collect();
        let mut rules = Vec::new();
        for (index, section) in file.llm.rules.iter().enumerate() {
            let field = format!("llm.rules[{index}]");
            let section = section.get_ref();
            let mut rule = Rule::default();
            for agent in &section.agents {
                let text = agent.get_ref().trim().to_ascii_lowercase();
                if !roles.iter().any(|role| role.as_str() == text) {
                    let origin = self.origin(&agent.span());
                    self.problem(
                        origin,
                        format!("{field}.agents"),
                        format!("no agent of the company has the role {text:?}"),
                    );
                }
                rule.agents.push(text);
            }
            for kind in &section.kinds {
                match kind.get_ref().trim().parse::<SessionKind>() {
                    Ok(kind) => rule.kinds.push(kind),
                    Err(message) => {
                        let origin = self.origin(&kind.span());
                        self.problem(origin, format!("{field}.kinds"), message);
                    }
                }
            }
            for tier in &section.tiers {
                match tier.get_ref().trim().parse::<Tier>() {
                    Ok(tier) => rule.tiers.push(tier),
                    Err(error) => {
                        let origin = self.origin(&tier.span());
                        self.problem(origin, format!("{field}.tiers"), error.to_string());
                    }
                }
            }
            rule.providers = section.providers.get_ref().clone();
            let origin = self.origin(&section.providers.span());
            if rule.providers.is_empty() {
                self.problem(
                    origin,
                    format!("{field}.providers"),
                    "a rule names at least one provider",
                );
            } else if let Some(unknown) = rule.providers.iter().find(|name| !names.contains(name)) {
                self.problem(
                    origin,
                    format!("{field}.providers"),
                    format!(
                        "no provider {unknown:?} in [llm.providers] (configured: {})",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                );
            }
            rules.push(rule);
        }
        let order = match &file.llm.order {
            Some(order) => {
                let origin = self.origin(&order.span());
                if let Some(unknown) = order.get_ref().iter().find(|name| !names.contains(name)) {
                    self.problem(
                        origin,
                        "llm.order",
                        format!("no provider {unknown:?} in [llm.providers]"),
                    );
                }
                order.get_ref().clone()
            }
            None => names.clone(),
        };
        if !file.llm.rules.is_empty() && names.is_empty() {
            self.problem(
                super::error::Origin::Default,
                "llm.rules",
                "rules need [llm.providers.<name>] to choose among",
            );
        }
        RouterSettings {
            providers,
            rules,
            order,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::error::{ConfigError, Problem};
    use super::super::{Config, ConfigSource, Env};
    use super::*;

    fn resolve(text: &str) -> Result<Config, ConfigError> {
        Config::from_text(
            text,
            ConfigSource::File(PathBuf::from("aito.toml")),
            Path::new("/nonexistent-base"),
            &Env::default(),
        )
    }

    fn problems(text: &str) -> Vec<Problem> {
        match resolve(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    const GOOD: &str = r#"
[[agents]]
role = "ceo"
[[agents]]
role = "cto"

[llm]
order = ["strong", "local"]

[llm.providers.strong]
type = "anthropic"
model = "claude-sonnet-4-5"
retries = 1
[llm.providers.strong.prices.claude-sonnet-4-5]
input = 3.0
output = 15.0

[llm.providers.local]
type = "openai"
base_url = "http://localhost:11434/v1"
model = "qwen2.5:7b"

[[llm.rules]]
kinds = ["scheduled"]
providers = ["local", "strong"]

[[llm.rules]]
agents = ["ceo"]
kinds = ["vote", "decision"]
tiers = ["major", "critical"]
providers = ["strong"]
"#;

    #[test]
    fn providers_and_rules_resolve() {
        let config = resolve(GOOD).expect("valid");
        let router = &config.llm.router;
        assert_eq!(router.order, ["strong", "local"]);
        let names: Vec<&str> = router.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["local", "strong"]);
        let strong = router
            .providers
            .iter()
            .find(|p| p.name == "strong")
            .unwrap();
        match &strong.kind {
            ProviderKind::Anthropic(api) => {
                assert_eq!(api.base_url, "https://api.anthropic.com");
                assert_eq!(api.retries, 1);
                assert_eq!(api.prices["claude-sonnet-4-5"].output, 15.0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(strong.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
        assert_eq!(router.rules[0].kinds, [SessionKind::Scheduled]);
        assert_eq!(router.rules[1].agents, ["ceo"]);
        assert_eq!(router.rules[1].tiers, [Tier::Major, Tier::Critical]);
        assert_eq!(config.llm.provider, None, "the router is chosen at start");
    }

    #[test]
    fn bad_providers_and_rules_are_refused_with_their_place() {
        let text = r#"
[[agents]]
role = "cto"

[llm]
order = ["nowhere"]

[llm.providers.a]
type = "gemini"

[llm.providers.b]
type = "openai"
model = "m"

[[llm.rules]]
agents = ["cfo"]
kinds = ["tick"]
tiers = ["huge"]
providers = ["c"]
"#;
        let found = problems(text);
        let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
        for field in [
            "llm.providers.a.type",
            "llm.providers.b.base_url",
            "llm.rules[0].agents",
            "llm.rules[0].kinds",
            "llm.rules[0].tiers",
            "llm.rules[0].providers",
            "llm.order",
        ] {
            assert!(fields.contains(&field), "{field} not in {fields:?}");
        }
        let kinds = found
            .iter()
            .find(|p| p.field == "llm.rules[0].kinds")
            .unwrap();
        assert!(
            kinds
                .message
                .contains("scheduled, message, vote, decision or worker")
        );
    }

    #[test]
    fn the_router_without_providers_is_refused() {
        let found = problems("[llm]\nprovider = \"router\"\n");
        assert!(
            found
                .iter()
                .any(|p| p.field == "llm.provider" && p.message.contains("[llm.providers")),
            "{found:?}"
        );
    }
}
