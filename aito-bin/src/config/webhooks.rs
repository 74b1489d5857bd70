//! `[webhooks.<name>]`: the services that may call `POST /hooks/<name>` on the dashboard's
//! address, how they sign, and which agent they wake. The secret comes only from
//! `AITO_WEBHOOKS_<NAME>_SECRET`; every other field can be overridden by
//! `AITO_WEBHOOKS_<NAME>_<FIELD>`. Variables override sources of the file; they do not add
//! sources.
//!
//! ```toml
//! [webhooks.github]
//! agent = "cto"
//! kind = "github"
//! events = ["push", "pull_request", "issues"]
//!
//! [webhooks.stripe]
//! agent = "cfo"
//! kind = "stripe"
//! priority = "high"
//! events = ["invoice.*", "charge.refunded"]
//!
//! [webhooks.shop]
//! agent = "cmo"
//! kind = "hmac"
//! header = "X-Shopify-Hmac-Sha256"
//! encoding = "base64"
//! event_header = "X-Shopify-Topic"
//! delivery_header = "X-Shopify-Webhook-Id"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use aito_core::Priority;
use axum::http::HeaderName;
use serde::Deserialize;
use toml::{Spanned, Table, Value};

use super::env::env_key;
use super::error::Origin;
use super::file::FileConfig;
use super::resolve::Resolver;
use super::{AgentConfig, Config};
use crate::dashboard::hooks::{
    DEFAULT_STRIPE_TOLERANCE, Encoding, HmacScheme, HookSource, Scheme, secret_variable,
};

/// The longest Stripe tolerance accepted, in seconds (a day).
const MAX_TOLERANCE_SECS: i64 = 24 * 3600;

/// One `[webhooks.<name>]` table, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// The role it wakes.
    pub agent: Option<Spanned<String>>,
    /// `github`, `stripe` or `hmac`.
    pub kind: Option<Spanned<String>>,
    /// Never allowed here: the secret comes from `AITO_WEBHOOKS_<NAME>_SECRET`. Read only to
    /// say so.
    pub secret: Option<Spanned<Value>>,
    /// The priority of its triggers (default `normal`).
    pub priority: Option<Spanned<String>>,
    /// Event types that wake the agent (exact, or a prefix ending in `*`); all when absent.
    pub events: Option<Vec<Spanned<String>>>,
    /// `hmac`: the header that carries the signature.
    pub header: Option<Spanned<String>>,
    /// `hmac`: `hex` (default), `base64` or `base64url`.
    pub encoding: Option<Spanned<String>>,
    /// `hmac`: text before the signature in the header (`sha256=`).
    pub prefix: Option<Spanned<String>>,
    /// `hmac`: the header naming the event type.
    pub event_header: Option<Spanned<String>>,
    /// `hmac`: the header carrying the delivery id.
    pub delivery_header: Option<Spanned<String>>,
    /// `stripe`: how far the signature's timestamp may be from now, in seconds (default 300).
    pub tolerance_secs: Option<Spanned<i64>>,
}

impl Resolver<'_> {
    /// The webhook sources, and warnings about sources without a secret.
    pub(super) fn webhooks(
        &mut self,
        file: &FileConfig,
        agents: &[AgentConfig],
    ) -> (Vec<HookSource>, Vec<String>) {
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for (name, section) in &file.webhooks {
            let origin = self.origin(&section.span());
            let field = format!("webhooks.{name}");
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.problem(
                    origin,
                    field,
                    "a webhook source name is 1 to 64 letters, digits, '-' and '_' (it is the path /hooks/<name>)",
                );
                continue;
            }
            if let Some(other) = keys.insert(env_key(name), name.clone()) {
                self.problem(
                    origin,
                    field,
                    format!(
                        "{name:?} and {other:?} would share the variable {}: rename one",
                        secret_variable(name)
                    ),
                );
                continue;
            }
            if let Some(source) = self.webhook(name, section.get_ref(), &field, &origin, agents) {
                if !source.has_secret() {
                    warnings.push(format!(
                        "webhook source {name} has no secret: set {} or every delivery to /hooks/{name} is refused",
                        secret_variable(name)
                    ));
                }
                sources.push(source);
            }
        }
        (sources, warnings)
    }

    fn webhook(
        &mut self,
        name: &str,
        section: &WebhookSection,
        field: &str,
        origin: &Origin,
        agents: &[AgentConfig],
    ) -> Option<HookSource> {
        let prefix = format!("AITO_WEBHOOKS_{}_", env_key(name));
        let var = |name: &str| format!("{prefix}{name}");
        let path = |name: &str| format!("{field}.{name}");
        if let Some(secret) = &section.secret {
            let origin = self.origin(&secret.span());
            self.problem(
                origin,
                path("secret"),
                format!(
                    "the webhook secret is never read from aito.toml: remove it here and set {} in the environment",
                    var("SECRET")
                ),
            );
        }
        let secret = self.env.get(&var("SECRET")).map(str::to_owned);

        let agent = match self.take(&var("AGENT"), &path("agent"), section.agent.as_ref()) {
            Some((role, agent_origin)) => {
                let found = agents
                    .iter()
                    .find(|agent| agent.spec.role.as_str().eq_ignore_ascii_case(role.trim()))
                    .and_then(|agent| Some((agent.spec.role.clone(), agent.spec.id?)));
                if found.is_none() {
                    let roles: Vec<&str> = agents
                        .iter()
                        .map(|agent| agent.spec.role.as_str())
                        .collect();
                    self.problem(
                        agent_origin,
                        path("agent"),
                        format!(
                            "no agent {role:?} in this company; it has {}",
                            roles.join(", ")
                        ),
                    );
                }
                found
            }
            None => {
                self.problem(
                    origin.clone(),
                    field,
                    "a webhook source needs `agent`: the role its deliveries wake",
                );
                None
            }
        };

        let scheme = match self.take(&var("KIND"), &path("kind"), section.kind.as_ref()) {
            Some((kind, kind_origin)) => match kind.trim().to_ascii_lowercase().as_str() {
                "github" => Some(Scheme::GitHub),
                "stripe" => Some(Scheme::stripe()),
                // The header and the rest are read by `scheme`.
                "hmac" => Some(Scheme::Hmac(HmacScheme::new(HeaderName::from_static(
                    "x-signature",
                )))),
                _ => {
                    self.problem(
                        kind_origin,
                        path("kind"),
                        format!("expected \"github\", \"stripe\" or \"hmac\", saw {kind:?}"),
                    );
                    None
                }
            },
            None => {
                self.problem(
                    origin.clone(),
                    field,
                    "a webhook source needs `kind`: \"github\", \"stripe\" or \"hmac\"",
                );
                None
            }
        };
        let scheme = scheme.and_then(|scheme| self.scheme(scheme, section, field, &prefix, origin));

        let priority = match self.take(
            &var("PRIORITY"),
            &path("priority"),
            section.priority.as_ref(),
        ) {
            Some((text, priority_origin)) => match text.parse::<Priority>() {
                Ok(priority) => priority,
                Err(message) => {
                    self.problem(priority_origin, path("priority"), message);
                    Priority::Normal
                }
            },
            None => Priority::Normal,
        };

        let mut events = Vec::new();
        for (index, (event, event_origin)) in self
            .take_list(
                &var("EVENTS"),
                &path("events"),
                ',',
                section.events.as_deref(),
            )
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let event = event.trim().to_owned();
            let star = event.find('*');
            if event.is_empty()
                || event.chars().any(|c| c.is_whitespace() || c.is_control())
                || star.is_some_and(|at| at + 1 != event.len())
            {
                self.problem(
                    event_origin,
                    format!("{field}.events[{index}]"),
                    format!(
                        "expected an event type (\"push\", \"invoice.paid\") or a prefix ending in * (\"invoice.*\"), saw {event:?}"
                    ),
                );
                continue;
            }
            events.push(event);
        }
        if let Some(Scheme::Hmac(hmac)) = &scheme
            && !events.is_empty()
            && hmac.event_header.is_none()
        {
            self.problem(
                origin.clone(),
                path("events"),
                "an hmac source can only filter event types it is told: set `event_header` (the header naming the event type) or remove `events`",
            );
        }

        let ((role, agent), scheme) = (agent?, scheme?);
        let mut source = HookSource::new(name, role, agent, scheme)
            .with_priority(priority)
            .with_events(events);
        if let Some(secret) = secret {
            source = source.with_secret(&secret);
        }
        Some(source)
    }

    /// The fields that belong to one kind: checked on it, refused on the others.
    fn scheme(
        &mut self,
        scheme: Scheme,
        section: &WebhookSection,
        field: &str,
        prefix: &str,
        origin: &Origin,
    ) -> Option<Scheme> {
        let path = |name: &str| format!("{field}.{name}");
        let var = |name: &str| format!("{prefix}{}", env_key(name));
        let signature = self.take(&var("header"), &path("header"), section.header.as_ref());
        let encoding = self.take(
            &var("encoding"),
            &path("encoding"),
            section.encoding.as_ref(),
        );
        let signature_prefix = self.take(&var("prefix"), &path("prefix"), section.prefix.as_ref());
        let event_header = self.take(
            &var("event_header"),
            &path("event_header"),
            section.event_header.as_ref(),
        );
        let delivery_header = self.take(
            &var("delivery_header"),
            &path("delivery_header"),
            section.delivery_header.as_ref(),
        );
        let tolerance = self.take(
            &var("tolerance_secs"),
            &path("tolerance_secs"),
            section.tolerance_secs.as_ref(),
        );
        let kind = scheme.kind();
        if !matches!(scheme, Scheme::Hmac(_)) {
            for (name, found) in [
                ("header", &signature),
                ("encoding", &encoding),
                ("prefix", &signature_prefix),
                ("event_header", &event_header),
                ("delivery_header", &delivery_header),
            ] {
                if let Some((_, at)) = found {
                    self.problem(
                        at.clone(),
                        path(name),
                        format!("`{name}` belongs to hmac sources; a {kind} source is signed as {kind} signs"),
                    );
                }
            }
        }
        if !matches!(scheme, Scheme::Stripe { .. })
            && let Some((_, at)) = &tolerance
        {
            self.problem(
                at.clone(),
                path("tolerance_secs"),
                format!("`tolerance_secs` belongs to stripe sources; {kind} signs no timestamp"),
            );
        }
        match scheme {
            Scheme::GitHub => Some(Scheme::GitHub),
            Scheme::Stripe { .. } => {
                let tolerance = match tolerance {
                    Some((secs, at)) if !(1..=MAX_TOLERANCE_SECS).contains(&secs) => {
                        self.problem(
                            at,
                            path("tolerance_secs"),
                            format!(
                                "expected a number of seconds from 1 to {MAX_TOLERANCE_SECS}, saw {secs}"
                            ),
                        );
                        return None;
                    }
                    Some((secs, _)) => Duration::from_secs(secs.unsigned_abs()),
                    None => DEFAULT_STRIPE_TOLERANCE,
                };
                Some(Scheme::Stripe { tolerance })
            }
            Scheme::Hmac(_) => {
                let Some(signature) = signature else {
                    self.problem(
                        origin.clone(),
                        field,
                        "an hmac source needs `header`: the header that carries the signature",
                    );
                    return None;
                };
                let mut hmac = HmacScheme::new(self.header_name(signature, &path("header"))?);
                if let Some((text, at)) = encoding {
                    match text.parse::<Encoding>() {
                        Ok(encoding) => hmac.encoding = encoding,
                        Err(message) => {
                            self.problem(at, path("encoding"), message);
                            return None;
                        }
                    }
                }
                hmac.prefix = signature_prefix.map(|(text, _)| text).unwrap_or_default();
                if let Some(found) = event_header {
                    hmac.event_header = Some(self.header_name(found, &path("event_header"))?);
                }
                if let Some(found) = delivery_header {
                    hmac.delivery_header = Some(self.header_name(found, &path("delivery_header"))?);
                }
                Some(Scheme::Hmac(hmac))
            }
        }
    }

    fn header_name(&mut self, (text, origin): (String, Origin), field: &str) -> Option<HeaderName> {
        match HeaderName::from_bytes(text.trim().as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => {
                self.problem(
                    origin,
                    field,
                    format!("expected a header name such as X-Signature, saw {text:?}"),
                );
                None
            }
        }
    }
}

/// The sources as `aito config check` shows them: the secret only as set or not.
pub(super) fn render(config: &Config) -> Option<Value> {
    if config.webhooks.is_empty() {
        return None;
    }
    let string = |text: &str| Value::String(text.to_owned());
    let mut all = Table::new();
    for source in &config.webhooks {
        let mut table = Table::new();
        table.insert("path".into(), string(&source.path()));
        table.insert("agent".into(), string(source.role.as_str()));
        table.insert("kind".into(), string(source.scheme.kind()));
        let variable = secret_variable(&source.name);
        table.insert(
            "secret".into(),
            string(&if source.has_secret() {
                format!("*** (from {variable})")
            } else {
                format!("(not set: every delivery is refused; set {variable})")
            }),
        );
        table.insert("priority".into(), string(source.priority.as_str()));
        table.insert(
            "events".into(),
            if source.events.is_empty() {
                string("(all)")
            } else {
                Value::Array(source.events.iter().map(|event| string(event)).collect())
            },
        );
        match &source.scheme {
            Scheme::GitHub => {}
            Scheme::Stripe { tolerance } => {
                table.insert(
                    "tolerance_secs".into(),
                    Value::Integer(i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX)),
                );
            }
            Scheme::Hmac(hmac) => {
                table.insert("header".into(), string(hmac.header.as_str()));
                table.insert("encoding".into(), string(hmac.encoding.as_str()));
                if !hmac.prefix.is_empty() {
                    table.insert("prefix".into(), string(&hmac.prefix));
                }
                if let Some(header) = &hmac.event_header {
                    table.insert("event_header".into(), string(header.as_str()));
                }
                if let Some(header) = &hmac.delivery_header {
                    table.insert("delivery_header".into(), string(header.as_str()));
                }
            }
        }
        all.insert(source.name.clone(), Value::Table(table));
    }
    Some(Value::Table(all))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use aito_core::{AgentId, Role};

    use super::*;
    use crate::config::{ConfigError, ConfigSource, Env, Problem};

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_text(
            text,
            ConfigSource::File(PathBuf::from("aito.toml")),
            Path::new("/nonexistent-base"),
            &Env::from_pairs(env.iter().copied()),
        )
    }

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<Problem> {
        match resolve(text, env) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    const SOURCES: &str = r#"
[webhooks.github]
agent = "cto"
kind = "github"
events = ["push", "pull_request"]

[webhooks.stripe]
agent = "CFO"
kind = "stripe"
priority = "high"
tolerance_secs = 600

[webhooks.shop]
agent = "cmo"
kind = "hmac"
header = "X-Shopify-Hmac-Sha256"
encoding = "base64"
event_header = "X-Shopify-Topic"
delivery_header = "X-Shopify-Webhook-Id"
events = ["orders/*"]
"#;

    #[test]
    fn sources_resolve_with_their_secrets_from_the_environment() {
        let config = resolve(
            SOURCES,
            &[
                ("AITO_WEBHOOKS_GITHUB_SECRET", "It's a Secret to Everybody"),
                ("AITO_WEBHOOKS_STRIPE_SECRET", "whsec_abc123"),
            ],
        )
        .expect("valid");
        let names: Vec<&str> = config.webhooks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["github", "shop", "stripe"]);
        let github = &config.webhooks[0];
        assert_eq!(github.role, Role::Cto);
        assert_eq!(github.agent, AgentId::derived("acme", "cto"));
        assert_eq!(github.scheme, Scheme::GitHub);
        assert_eq!(github.events, ["push", "pull_request"]);
        assert!(github.has_secret());
        let shop = &config.webhooks[1];
        let Scheme::Hmac(hmac) = &shop.scheme else {
            panic!("{shop:?}")
        };
        assert_eq!(hmac.header.as_str(), "x-shopify-hmac-sha256");
        assert_eq!(hmac.encoding, Encoding::Base64);
        assert_eq!(
            hmac.event_header.as_ref().map(HeaderName::as_str),
            Some("x-shopify-topic")
        );
        assert!(!shop.has_secret());
        let stripe = &config.webhooks[2];
        assert_eq!(stripe.role, Role::Cfo);
        assert_eq!(stripe.priority, Priority::High);
        assert_eq!(
            stripe.scheme,
            Scheme::Stripe {
                tolerance: Duration::from_secs(600)
            }
        );

        // `aito config check`: every source, and whether its secret is set, never the secret.
        let shown = format!("{}\n{config:?}", config.render());
        assert!(!shown.contains("Secret to Everybody"), "{shown}");
        assert!(!shown.contains("whsec_abc123"), "{shown}");
        let rendered: Table = toml::from_str(&config.render()).expect("TOML");
        let webhooks = &rendered["webhooks"];
        assert_eq!(
            webhooks["github"]["secret"].as_str(),
            Some("*** (from AITO_WEBHOOKS_GITHUB_SECRET)")
        );
        assert_eq!(webhooks["github"]["path"].as_str(), Some("/hooks/github"));
        assert!(
            webhooks["shop"]["secret"]
                .as_str()
                .is_some_and(|text| text.starts_with("(not set")
                    && text.contains("AITO_WEBHOOKS_SHOP_SECRET")),
            "{shown}"
        );
        assert_eq!(webhooks["stripe"]["tolerance_secs"].as_integer(), Some(600));
        assert_eq!(webhooks["shop"]["encoding"].as_str(), Some("base64"));
        assert!(
            config
                .warnings
                .iter()
                .any(|warning| warning.contains("shop has no secret")
                    && warning.contains("AITO_WEBHOOKS_SHOP_SECRET")),
            "{:?}",
            config.warnings
        );
        assert!(
            shown.contains("# warning: webhook source shop has no secret"),
            "{shown}"
        );
    }

    #[test]
    fn a_secret_in_the_file_is_refused_with_where_it_belongs() {
        let found = problems(
            "[webhooks.github]\nagent = \"cto\"\nkind = \"github\"\nsecret = \"hunter2\"\n",
            &[],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            matches!(found[0].origin, Origin::File { line: 4, .. }),
            "{found:?}"
        );
        assert_eq!(found[0].field, "webhooks.github.secret");
        assert!(
            found[0].message.contains("AITO_WEBHOOKS_GITHUB_SECRET"),
            "{}",
            found[0].message
        );
        let shown = resolve(
            "[webhooks.github]\nagent = \"cto\"\nkind = \"github\"\nsecret = \"hunter2\"\n",
            &[],
        )
        .expect_err("refused")
        .to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn every_mistake_is_named_with_its_line() {
        let text = r#"[webhooks.a]
agent = "cxo"
kind = "github"

[webhooks.b]
agent = "cto"
kind = "gitlab"

[webhooks.c]
kind = "hmac"

[webhooks.d]
agent = "cto"
kind = "github"
header = "X-Signature"
tolerance_secs = 60

[webhooks.e]
agent = "cto"
kind = "hmac"
header = "X Bad Header"

[webhooks.f]
agent = "cto"
kind = "hmac"
header = "X-Signature"
encoding = "base32"

[webhooks.g]
agent = "cto"
kind = "hmac"
header = "X-Signature"
events = ["push"]

[webhooks.h]
agent = "cfo"
kind = "stripe"
tolerance_secs = 0
events = ["invoice paid", "*.created"]

[webhooks."bad name"]
agent = "cto"
kind = "github"
"#;
        let found = problems(text, &[]);
        let line = |problem: &Problem| match problem.origin {
            Origin::File { line, .. } => line,
            _ => 0,
        };
        let summary: Vec<(usize, &str, &str)> = found
            .iter()
            .map(|problem| {
                (
                    line(problem),
                    problem.field.as_str(),
                    problem.message.as_str(),
                )
            })
            .collect();
        let expect = |at: usize, field: &str, words: &str| {
            assert!(
                summary
                    .iter()
                    .any(|(l, f, m)| *l == at && *f == field && m.contains(words)),
                "no problem at line {at} in {field} saying {words:?}: {summary:#?}"
            );
        };
        expect(2, "webhooks.a.agent", "no agent \"cxo\"");
        expect(
            7,
            "webhooks.b.kind",
            "expected \"github\", \"stripe\" or \"hmac\"",
        );
        expect(9, "webhooks.c", "needs `agent`");
        expect(9, "webhooks.c", "needs `header`");
        expect(15, "webhooks.d.header", "belongs to hmac sources");
        expect(16, "webhooks.d.tolerance_secs", "belongs to stripe sources");
        expect(21, "webhooks.e.header", "expected a header name");
        expect(27, "webhooks.f.encoding", "\"base32\"");
        expect(29, "webhooks.g.events", "set `event_header`");
        expect(38, "webhooks.h.tolerance_secs", "from 1 to 86400");
        expect(39, "webhooks.h.events[0]", "\"invoice paid\"");
        expect(39, "webhooks.h.events[1]", "\"*.created\"");
        expect(41, "webhooks.bad name", "letters, digits");
        assert_eq!(found.len(), 13, "{summary:#?}");
    }

    #[test]
    fn variables_override_sources_of_the_file_but_add_none() {
        let config = resolve(
            "[webhooks.github]\nagent = \"cto\"\nkind = \"github\"\n",
            &[
                ("AITO_WEBHOOKS_GITHUB_AGENT", "coo"),
                ("AITO_WEBHOOKS_GITHUB_EVENTS", "issues, pull_request"),
                ("AITO_WEBHOOKS_GITHUB_PRIORITY", "urgent"),
                ("AITO_WEBHOOKS_GITHUB_SECRET", "s"),
                ("AITO_WEBHOOKS_GITLAB_SECRET", "t"),
            ],
        )
        .expect("valid");
        assert_eq!(config.webhooks.len(), 1);
        let github = &config.webhooks[0];
        assert_eq!(github.role, Role::Coo);
        assert_eq!(github.events, ["issues", "pull_request"]);
        assert_eq!(github.priority, Priority::Urgent);
        assert!(
            config.warnings.iter().any(|warning| warning.contains(
                "AITO_WEBHOOKS_GITLAB_SECRET is set but no configuration field reads it"
            )),
            "{:?}",
            config.warnings
        );
        let found = problems(
            "[webhooks.github]\nagent = \"cto\"\nkind = \"github\"\n",
            &[("AITO_WEBHOOKS_GITHUB_KIND", "svn")],
        );
        assert_eq!(
            found[0].origin,
            Origin::Env("AITO_WEBHOOKS_GITHUB_KIND".into())
        );
    }
}
