//! The resolved configuration as TOML, for `aito config check`: what every field ended up as,
//! secrets masked, and where overrides came from.

use std::collections::BTreeMap;

use aito_core::Budget;
use toml::{Table, Value};

use super::{Config, McpKind, McpValue, ProfileSource};

fn string(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

fn strings<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::Array(items.into_iter().map(|item| string(item)).collect())
}

fn budget(budget: &Budget) -> Value {
    let mut table = Table::new();
    if let Some(sessions) = budget.sessions_per_hour {
        table.insert(
            "sessions_per_hour".into(),
            Value::Integer(i64::from(sessions)),
        );
    }
    if let Some(usd) = budget.usd_per_hour {
        table.insert("usd_per_hour".into(), Value::Float(usd));
    }
    if let Some(usd) = budget.usd_per_day {
        table.insert("usd_per_day".into(), Value::Float(usd));
    }
    Value::Table(table)
}

fn values(values: &BTreeMap<String, McpValue>) -> Value {
    Value::Table(
        values
            .iter()
            .map(|(key, value)| {
                let shown = match value {
                    McpValue::Plain(text) => text.clone(),
                    McpValue::Secret(_) => "*** (from the environment)".to_owned(),
                };
                (key.clone(), string(shown))
            })
            .collect(),
    )
}

fn hours(duration: std::time::Duration) -> Value {
    Value::Float(duration.as_secs_f64() / 3600.0)
}

pub(super) fn render(config: &Config) -> String {
    let mut root = Table::new();

    let mut company = Table::new();
    company.insert("name".into(), string(&config.company));
    company.insert(
        "workspace_root".into(),
        string(config.workspace_root.display().to_string()),
    );
    company.insert(
        "sessions_keep".into(),
        Value::Integer(i64::try_from(config.sessions_keep).unwrap_or(i64::MAX)),
    );
    company.insert(
        "lease_ttl_secs".into(),
        Value::Integer(i64::try_from(config.lease_ttl.as_secs()).unwrap_or(i64::MAX)),
    );
    company.insert("budget".into(), budget(&config.company_budget));
    root.insert("company".into(), Value::Table(company));

    let agents = config
        .agents
        .iter()
        .map(|agent| {
            let spec = &agent.spec;
            let mut table = Table::new();
            table.insert("role".into(), string(spec.role.as_str()));
            if let Some(id) = spec.id {
                table.insert("id".into(), string(id.to_string()));
            }
            let profile = match &agent.profile {
                ProfileSource::BuiltIn => format!("(built in: profiles/{}.md)", spec.role),
                ProfileSource::File(path) => path.display().to_string(),
            };
            table.insert("profile".into(), string(profile));
            table.insert(
                "schedules".into(),
                strings(spec.schedules.iter().map(|schedule| schedule.expression())),
            );
            table.insert(
                "mcp_servers".into(),
                strings(spec.mcp_servers.iter().cloned()),
            );
            if let Some(model) = &spec.model {
                table.insert("model".into(), string(model));
            }
            table.insert("run_on_startup".into(), Value::Boolean(spec.run_on_startup));
            if let Some(workspace) = &spec.workspace {
                table.insert("workspace".into(), string(workspace.display().to_string()));
            }
            table.insert("budget".into(), budget(&spec.budget));
            Value::Table(table)
        })
        .collect();
    root.insert("agents".into(), Value::Array(agents));

    let mut mcp = Table::new();
    for (name, server) in &config.mcp {
        let mut table = Table::new();
        table.insert("type".into(), string(server.kind.as_str()));
        match server.kind {
            McpKind::Stdio => {
                if let Some(command) = &server.command {
                    table.insert("command".into(), string(command));
                }
                table.insert("args".into(), strings(server.args.iter().cloned()));
                table.insert("env".into(), values(&server.env));
            }
            McpKind::Http | McpKind::Sse => {
                if let Some(url) = &server.url {
                    table.insert("url".into(), string(url));
                }
                table.insert("headers".into(), values(&server.headers));
            }
        }
        mcp.insert(name.clone(), Value::Table(table));
    }
    root.insert("mcp".into(), Value::Table(mcp));

    let mut redis = Table::new();
    redis.insert(
        "url".into(),
        string(match &config.redis.url {
            Some(url) => url.masked(),
            None => "(none: the embedded in-memory bus and store)".to_owned(),
        }),
    );
    redis.insert("prefix".into(), string(&config.redis.prefix));
    root.insert("redis".into(), Value::Table(redis));
    let mut bus = Table::new();
    bus.insert(
        "max_envelope_bytes".into(),
        Value::Integer(i64::try_from(config.bus.max_envelope_bytes).unwrap_or(i64::MAX)),
    );
    root.insert("bus".into(), Value::Table(bus));

    let mut dashboard = Table::new();
    dashboard.insert("bind".into(), string(config.dashboard_bind.to_string()));
    dashboard.insert(
        "token".into(),
        string(if config.dashboard_token.is_some() {
            "*** (from AITO_DASHBOARD_TOKEN)"
        } else {
            "(not set: the dashboard refuses every write)"
        }),
    );
    if let Some(webhook) = &config.escalation_webhook {
        dashboard.insert("escalation_webhook".into(), string(webhook.shown()));
    }
    if let Some(url) = &config.public_url {
        dashboard.insert("public_url".into(), string(url));
    }
    root.insert("dashboard".into(), Value::Table(dashboard));
    if let Some(webhooks) = super::webhooks::render(config) {
        root.insert("webhooks".into(), webhooks);
    }

    let mut health = Table::new();
    health.insert("bind".into(), string(config.health_bind.to_string()));
    root.insert("health".into(), Value::Table(health));

    if let Some(context) = &config.context {
        let mut table = Table::new();
        let knowledge: Vec<Value> = context
            .knowledge
            .iter()
            .map(|folder| string(config.base.join(folder).display().to_string()))
            .collect();
        table.insert("knowledge".into(), Value::Array(knowledge));
        table.insert(
            "storage".into(),
            string(match context.index_dir(&config.data_dir) {
                Some(dir) => format!("disk ({})", dir.display()),
                None => "memory".to_owned(),
            }),
        );
        table.insert(
            "overseers".into(),
            Value::Array(
                context
                    .overseers
                    .iter()
                    .map(|role| string(role.as_str()))
                    .collect(),
            ),
        );
        table.insert(
            "max_passages".into(),
            Value::Integer(context.max_passages as i64),
        );
        table.insert(
            "half_life_days".into(),
            Value::Float(context.half_life_days),
        );
        root.insert("context".into(), Value::Table(table));
    }

    let mut llm = Table::new();
    llm.insert(
        "provider".into(),
        string(match &config.llm.provider {
            Some(choice) => choice.to_string(),
            None if !config.llm.router.is_empty() => "router".to_owned(),
            None => "(chosen at start: claude when on the PATH, else the demo)".to_owned(),
        }),
    );
    if !config.llm.router.is_empty() {
        let router = &config.llm.router;
        let list = |items: &[String]| Value::Array(items.iter().map(string).collect());
        llm.insert("order".into(), list(&router.order));
        let mut providers = Table::new();
        for provider in &router.providers {
            let mut table = Table::new();
            let api = match &provider.kind {
                super::providers::ProviderKind::Anthropic(api) => {
                    table.insert("type".into(), string("anthropic"));
                    Some(api)
                }
                super::providers::ProviderKind::OpenAi(api) => {
                    table.insert("type".into(), string("openai"));
                    Some(api)
                }
                super::providers::ProviderKind::Claude => {
                    table.insert("type".into(), string("claude"));
                    None
                }
            };
            if let Some(api) = api {
                table.insert("base_url".into(), string(&api.base_url));
                table.insert("model".into(), string(&api.model));
                table.insert(
                    "max_tokens".into(),
                    Value::Integer(i64::from(api.max_tokens)),
                );
                table.insert("retries".into(), Value::Integer(i64::from(api.retries)));
                let mut prices = Table::new();
                for (model, price) in &api.prices {
                    let mut rates = Table::new();
                    rates.insert("input".into(), Value::Float(price.input));
                    rates.insert("output".into(), Value::Float(price.output));
                    if let Some(rate) = price.cache_read {
                        rates.insert("cache_read".into(), Value::Float(rate));
                    }
                    if let Some(rate) = price.cache_write {
                        rates.insert("cache_write".into(), Value::Float(rate));
                    }
                    prices.insert(model.clone(), Value::Table(rates));
                }
                if !prices.is_empty() {
                    table.insert("prices".into(), Value::Table(prices));
                }
            }
            if let Some(var) = &provider.api_key_env {
                // The variable's name only: the key itself is never shown.
                table.insert("api_key_env".into(), string(var));
            }
            providers.insert(provider.name.clone(), Value::Table(table));
        }
        llm.insert("providers".into(), Value::Table(providers));
        let rules = router
            .rules
            .iter()
            .map(|rule| {
                let mut table = Table::new();
                if !rule.agents.is_empty() {
                    table.insert("agents".into(), list(&rule.agents));
                }
                if !rule.kinds.is_empty() {
                    let kinds: Vec<String> = rule.kinds.iter().map(ToString::to_string).collect();
                    table.insert("kinds".into(), list(&kinds));
                }
                if !rule.tiers.is_empty() {
                    let tiers: Vec<String> = rule.tiers.iter().map(ToString::to_string).collect();
                    table.insert("tiers".into(), list(&tiers));
                }
                table.insert("providers".into(), list(&rule.providers));
                Value::Table(table)
            })
            .collect();
        llm.insert("rules".into(), Value::Array(rules));
    }
    llm.insert("claude_binary".into(), string(&config.llm.claude_binary));
    if let Some(model) = &config.llm.model {
        llm.insert("model".into(), string(model));
    }
    llm.insert(
        "session_timeout_secs".into(),
        Value::Integer(i64::try_from(config.llm.session_timeout.as_secs()).unwrap_or(i64::MAX)),
    );
    if let Some(turns) = config.llm.max_turns {
        llm.insert("max_turns".into(), Value::Integer(i64::from(turns)));
    }
    root.insert("llm".into(), Value::Table(llm));
    root.insert("claude".into(), super::claude::render(&config.claude));

    let mut decisions = Table::new();
    decisions.insert("minor_hours".into(), hours(config.decisions.minor));
    decisions.insert("major_hours".into(), hours(config.decisions.major));
    decisions.insert("critical_hours".into(), hours(config.decisions.critical));
    decisions.insert(
        "max_rounds".into(),
        Value::Integer(i64::from(config.decisions.max_rounds)),
    );
    root.insert("decisions".into(), Value::Table(decisions));

    // Credentials in URLs never show, whichever field carries them.
    let mut root = Value::Table(root);
    super::mask::mask_value(&mut root);
    let mut out = format!("# aito configuration resolved from {}\n", config.source);
    if config.overrides.is_empty() {
        out.push_str("# no AITO_* environment variable changed it\n");
    } else {
        out.push_str(&format!(
            "# overridden by the environment: {}\n",
            config.overrides.join(", ")
        ));
    }
    for warning in &config.warnings {
        out.push_str(&format!(
            "# warning: {}\n",
            super::mask::mask_urls(&warning.to_string())
        ));
    }
    out.push('\n');
    out.push_str(&toml::to_string(&root).unwrap_or_else(|err| format!("# cannot render: {err}\n")));
    out
}
