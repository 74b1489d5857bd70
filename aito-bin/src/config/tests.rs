use std::path::Path;

use aito_core::Role;

use super::*;

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

fn at(line: usize) -> impl Fn(&Problem) -> bool {
    move |problem| matches!(&problem.origin, Origin::File { line: l, .. } if *l == line)
}

#[test]
fn the_built_in_configuration_is_the_seven_roles_with_the_original_schedules() {
    let config = Config::from_text(
        DEFAULT_TOML,
        ConfigSource::BuiltIn,
        Path::new("."),
        &Env::default(),
    )
    .expect("the default configuration is valid");
    let roles: Vec<&Role> = config.agents.iter().map(|agent| &agent.spec.role).collect();
    assert_eq!(roles, Role::BUILT_IN.iter().collect::<Vec<_>>());
    for agent in &config.agents {
        let expected = agent.spec.role.default_schedule().expect("built-in role");
        assert_eq!(agent.spec.schedules[0].expression(), expected);
        assert_eq!(agent.profile, ProfileSource::BuiltIn);
        assert_eq!(
            agent.spec.id,
            Some(aito_core::AgentId::derived(
                "acme",
                agent.spec.role.as_str()
            ))
        );
    }
    assert_eq!(config.company_budget.usd_per_day, Some(25.0));
    assert!(
        config
            .agent("cto")
            .is_some_and(|cto| cto.spec.mcp_servers.contains(&"github".to_owned()))
    );
    assert_eq!(config.mcp["github"].kind, McpKind::Http);
    assert!(config.redis.url.is_none());
    assert_eq!(config.dashboard_bind.to_string(), "127.0.0.1:8080");
    assert_eq!(config.decisions, DecisionSettings::default());
}

#[test]
fn no_agents_means_the_seven_defaults() {
    let config = resolve("[company]\nname = \"x\"\n", &[]).expect("valid");
    assert_eq!(config.agents.len(), 7);
}

#[test]
fn environment_variables_override_the_file_and_secrets_are_masked() {
    let text = "[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cto\"\nmodel = \"sonnet\"\n";
    let config = resolve(
        text,
        &[
            ("AITO_COMPANY_NAME", "globex"),
            ("AITO_AGENTS_CTO_MODEL", "opus"),
            ("AITO_AGENTS_CTO_BUDGET_USD_PER_DAY", "7.5"),
            ("AITO_AGENTS_CEO_SCHEDULES", "0 9 * * 1-5; 0 17 * * 1-5"),
            ("AITO_REDIS_URL", "redis://:hunter2@cache:6379/0"),
            ("AITO_DASHBOARD_TOKEN", "s3cret-token"),
            ("AITO_BIND", "0.0.0.0:9000"),
            ("AITO_DECISIONS_MINOR_HOURS", "0.5"),
        ],
    )
    .expect("valid");
    assert_eq!(config.company, "globex");
    let cto = config.agent("cto").expect("cto");
    assert_eq!(cto.spec.model.as_deref(), Some("opus"));
    assert_eq!(cto.spec.budget.usd_per_day, Some(7.5));
    assert_eq!(
        cto.spec.id,
        Some(aito_core::AgentId::derived("globex", "cto"))
    );
    let ceo = config.agent("ceo").expect("ceo");
    let schedules: Vec<&str> = ceo.spec.schedules.iter().map(|s| s.expression()).collect();
    assert_eq!(schedules, ["0 9 * * 1-5", "0 17 * * 1-5"]);
    assert_eq!(config.dashboard_bind.to_string(), "0.0.0.0:9000");
    assert_eq!(config.decisions.minor, Duration::from_secs(1800));
    assert_eq!(
        config.redis.url.as_ref().map(|url| url.expose().to_owned()),
        Some("redis://:hunter2@cache:6379/0".to_owned())
    );
    let shown = format!("{}\n{config:?}", config.render());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("s3cret-token"), "{shown}");
    assert!(shown.contains("redis://:***@cache:6379/0"), "{shown}");
    assert!(
        shown.contains("AITO_AGENTS_CTO_MODEL"),
        "overrides are listed: {shown}"
    );
    // What config check prints is TOML again.
    let reread: toml::Table = toml::from_str(&config.render()).expect("the rendering is TOML");
    assert_eq!(reread["company"]["name"].as_str(), Some("globex"));
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let found = problems(
        "[[agents]]\nrole = \"cto\"\n",
        &[("AITO_AGENTS_CTO_BUDGET_USD_PER_DAY", "lots")],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].origin,
        Origin::Env("AITO_AGENTS_CTO_BUDGET_USD_PER_DAY".into())
    );
    assert_eq!(found[0].field, "agents[0].budget.usd_per_day");
    assert!(
        found[0].message.contains("\"lots\""),
        "{}",
        found[0].message
    );
}

#[test]
fn unknown_section_variables_are_warned_about() {
    let config = resolve(
        "",
        &[("AITO_COMPANY_NAEM", "typo"), ("AITO_LOG_FORMAT", "json")],
    )
    .expect("valid");
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("AITO_COMPANY_NAEM"));
}

#[test]
fn syntax_errors_name_the_line_and_the_field() {
    let err = resolve(
        "[company]\nname = \"x\"\n\n[[agents]]\nrole = \"ceo\"\nshedules = []\n",
        &[],
    )
    .expect_err("unknown field");
    let text = err.to_string();
    assert!(
        text.starts_with("aito.toml:6:1: agents[0].shedules: unknown field `shedules`"),
        "{text}"
    );
    assert!(text.contains("expected one of"), "{text}");
    assert!(text.contains("6 | shedules = []"), "{text}");

    let err = resolve(
        "[[agents]]\nrole = \"ceo\"\n[agents.budget]\nsessions_per_hour = \"ten\"\n",
        &[],
    )
    .expect_err("wrong type");
    let text = err.to_string();
    assert!(text.starts_with("aito.toml:4:"), "{text}");
    assert!(
        text.contains("agents[0].budget.sessions_per_hour"),
        "{text}"
    );

    let err = resolve("[company\nname = 1\n", &[]).expect_err("bad toml");
    assert!(err.to_string().starts_with("aito.toml:1:"), "{err}");
}

#[test]
fn unknown_roles_bad_crons_missing_profiles_and_duplicate_ids_are_each_named() {
    let text = r#"[[agents]]
role = "ceo"
id = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3"

[[agents]]
role = "cxo"

[[agents]]
role = "cto"
schedules = ["0 * * * *", "61 * * * *"]

[[agents]]
role = "cmo"
profile = "profiles/nowhere.md"

[[agents]]
role = "cfo"
id = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3"

[[agents]]
role = "cto"
"#;
    let found = problems(text, &[]);
    assert_eq!(found.len(), 5, "{found:#?}");
    let role = found
        .iter()
        .find(|p| at(6)(p))
        .expect("unknown role on line 6");
    assert_eq!(role.field, "agents[1].role");
    assert!(
        role.message.contains("unknown role \"cxo\""),
        "{}",
        role.message
    );
    assert!(role.message.contains("custom = true"), "{}", role.message);
    let cron = found
        .iter()
        .find(|p| at(10)(p))
        .expect("bad cron on line 10");
    assert_eq!(cron.field, "agents[2].schedules[1]");
    assert!(cron.message.contains("61 * * * *"), "{}", cron.message);
    let profile = found
        .iter()
        .find(|p| at(14)(p))
        .expect("missing profile on line 14");
    assert_eq!(profile.field, "agents[3].profile");
    assert!(
        profile.message.contains("profiles/nowhere.md"),
        "{}",
        profile.message
    );
    let id = found
        .iter()
        .find(|p| at(18)(p))
        .expect("duplicate id on line 18");
    assert_eq!(id.field, "agents[4].id");
    assert!(id.message.contains("duplicate agent id"), "{}", id.message);
    assert!(id.message.contains("agents[0]"), "{}", id.message);
    let twice = found
        .iter()
        .find(|p| at(21)(p))
        .expect("duplicate role on line 21");
    assert!(twice.message.contains("appears twice"), "{}", twice.message);
}

#[test]
fn custom_roles_need_to_say_so_and_profiles_are_read_relative_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(
        dir.path().join("profiles/legal.md"),
        "# Legal\nKeeps us out of court.",
    )
    .expect("write");
    let text = "[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"legal\"\ncustom = true\nprofile = \"profiles/legal.md\"\n";
    let config = Config::from_text(
        text,
        ConfigSource::File(dir.path().join("aito.toml")),
        dir.path(),
        &Env::default(),
    )
    .expect("valid");
    let legal = config.agent("legal").expect("legal");
    assert_eq!(legal.spec.role, Role::Custom("legal".into()));
    assert!(legal.spec.profile.contains("Keeps us out of court"));
    assert!(
        legal.spec.schedules.is_empty(),
        "custom roles have no default schedule"
    );
}

#[test]
fn secrets_in_the_file_are_refused_with_where_to_put_them() {
    let text = r#"[redis]
url = "redis://:hunter2@cache:6379/0"

[dashboard]
token = "abc"

[mcp.github]
type = "http"
url = "https://api.githubcopilot.com/mcp/"
headers = { Authorization = "Bearer ghp_123" }

[mcp.fine]
type = "http"
url = "https://example.com/mcp"
headers = { Authorization = "Bearer ${FINE_TOKEN}" }
"#;
    let found = problems(text, &[]);
    assert_eq!(found.len(), 3, "{found:#?}");
    let redis = found.iter().find(|p| at(2)(p)).expect("redis url");
    assert!(
        redis.message.contains("AITO_REDIS_URL"),
        "{}",
        redis.message
    );
    assert!(!redis.message.contains("hunter2"));
    let token = found.iter().find(|p| at(5)(p)).expect("token");
    assert!(
        token.message.contains("AITO_DASHBOARD_TOKEN"),
        "{}",
        token.message
    );
    let header = found.iter().find(|p| at(10)(p)).expect("header");
    assert_eq!(header.field, "mcp.github.headers.Authorization");
    assert!(
        header.message.contains("${AUTHORIZATION}"),
        "{}",
        header.message
    );
}

#[test]
fn mcp_servers_are_checked_and_agents_may_only_name_known_ones() {
    let text = r#"[[agents]]
role = "cto"
mcp_servers = ["github", "fetch"]

[mcp.fetch]
command = "uvx"
args = ["mcp-server-fetch"]

[mcp.broken]
type = "stdio"
url = "http://localhost:1"
"#;
    let found = problems(text, &[]);
    assert_eq!(found.len(), 2, "{found:#?}");
    let unknown = found.iter().find(|p| at(3)(p)).expect("unknown server");
    assert_eq!(unknown.field, "agents[0].mcp_servers[0]");
    assert!(
        unknown.message.contains("\"github\""),
        "{}",
        unknown.message
    );
    assert!(unknown.message.contains("fetch"), "{}", unknown.message);
    assert!(
        found
            .iter()
            .any(|p| p.field == "mcp.broken" && p.message.contains("command"))
    );

    let config = resolve(
        "[[agents]]\nrole = \"cto\"\nmcp_servers = [\"fetch\"]\n\n[mcp.fetch]\ncommand = \"uvx\"\n",
        &[("AITO_MCP_FETCH_ENV_API_KEY", "k-123")],
    )
    .expect("valid");
    assert_eq!(config.mcp["fetch"].env["API_KEY"].expose(), "k-123");
    assert!(!config.render().contains("k-123"));
}

#[test]
fn numbers_out_of_range_are_refused() {
    let text = "[company.budget]\nusd_per_day = -1.0\n\n[decisions]\nmax_rounds = 0\n\n[llm]\nsession_timeout_secs = 0\nprovider = \"gpt\"\n";
    let found = problems(text, &[]);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "company.budget.usd_per_day",
            "decisions.max_rounds",
            "llm.session_timeout_secs",
            "llm.provider",
        ]
    );
}

#[test]
fn the_envelope_cap_is_read_from_the_bus_section_or_the_environment_and_checked() {
    let default = resolve("", &[]).expect("valid");
    assert_eq!(
        default.bus.max_envelope_bytes,
        aito_core::envelope::MAX_ENVELOPE_BYTES
    );
    let file = resolve("[bus]\nmax_envelope_bytes = 4096\n", &[]).expect("valid");
    assert_eq!(file.bus.max_envelope_bytes, 4096);
    assert!(
        file.render().contains("[bus]\nmax_envelope_bytes = 4096"),
        "{}",
        file.render()
    );
    let env = resolve(
        "[bus]\nmax_envelope_bytes = 4096\n",
        &[("AITO_BUS_MAX_ENVELOPE_BYTES", "2048")],
    )
    .expect("valid");
    assert_eq!(env.bus.max_envelope_bytes, 2048);

    let found = problems("[bus]\nmax_envelope_bytes = 10\n", &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "bus.max_envelope_bytes");
    assert!(at(2)(&found[0]), "{found:?}");
    let found = problems("", &[("AITO_BUS_MAX_ENVELOPE_BYTES", "-1")]);
    assert_eq!(found[0].field, "bus.max_envelope_bytes");
    assert!(matches!(&found[0].origin, Origin::Env(var) if var == "AITO_BUS_MAX_ENVELOPE_BYTES"));
}

#[test]
fn the_lease_lifetime_is_read_from_the_company_section_or_the_environment_and_checked() {
    let default = resolve("", &[]).expect("valid");
    assert_eq!(default.settings().lease_ttl, Duration::from_secs(30));
    let file = resolve("[company]\nlease_ttl_secs = 5\n", &[]).expect("valid");
    assert_eq!(file.settings().lease_ttl, Duration::from_secs(5));
    assert!(
        file.render().contains("lease_ttl_secs = 5"),
        "{}",
        file.render()
    );
    let env = resolve(
        "[company]\nlease_ttl_secs = 5\n",
        &[("AITO_COMPANY_LEASE_TTL_SECS", "12")],
    )
    .expect("valid");
    assert_eq!(env.settings().lease_ttl, Duration::from_secs(12));
    for bad in ["1", "0", "-3", "3601"] {
        let found = problems(&format!("[company]\nlease_ttl_secs = {bad}\n"), &[]);
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert_eq!(found[0].field, "company.lease_ttl_secs");
        assert!(
            found[0].message.contains("2 to 3600 seconds"),
            "{}",
            found[0].message
        );
    }
}
