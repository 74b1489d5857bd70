//! The model router through the binary: `aito config check` shows and validates
//! `[llm.providers]` and `[[llm.rules]]`, and `aito run` thinks on an HTTP provider (the local
//! API server of the tests) chosen by the rules, falling back when the first is overloaded.

mod binary;

use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{ApiError, MockServer, Recorded, Reply};
use binary::{aito, output, texts};

fn providers(strong: &str, local: &str) -> String {
    format!(
        r#"
[company]
name = "acme"

[[agents]]
role = "ceo"
schedules = []
[[agents]]
role = "cto"
schedules = []
run_on_startup = true

[llm.providers.strong]
type = "anthropic"
base_url = "{strong}"
model = "claude-test"
api_key_env = "AITO_TEST_ANTHROPIC_KEY"
retries = 0
[llm.providers.strong.prices.claude-test]
input = 3.0
output = 15.0

[llm.providers.local]
type = "openai"
base_url = "{local}/v1"
model = "qwen-test"
retries = 0

[[llm.rules]]
kinds = ["scheduled"]
providers = ["strong", "local"]
"#
    )
}

#[test]
fn config_check_shows_providers_and_rules_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aito.toml"),
        providers("http://127.0.0.1:9", "http://127.0.0.1:9"),
    )
    .expect("config");
    let check = output(aito(dir.path(), &["config", "check"]));
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    for line in [
        "provider = \"router\"",
        "[llm.providers.strong]",
        "type = \"anthropic\"",
        "api_key_env = \"AITO_TEST_ANTHROPIC_KEY\"",
        "[llm.providers.local]",
        "kinds = [\"scheduled\"]",
        "providers = [\"strong\", \"local\"]",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }

    std::fs::write(
        dir.path().join("bad.toml"),
        "[llm.providers.a]\ntype = \"openai\"\nmodel = \"m\"\nbase_url = \"ftp://x\"\n\n[[llm.rules]]\nkinds = [\"tick\"]\nproviders = [\"b\"]\n",
    )
    .expect("config");
    let check = output(aito(
        dir.path(),
        &["config", "check", "--config", "bad.toml"],
    ));
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("bad.toml:4:") && stderr.contains("llm.providers.a.base_url"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:7:") && stderr.contains("unknown session kind \"tick\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:8:") && stderr.contains("no provider \"b\""),
        "{stderr}"
    );
}

#[test]
fn a_check_in_runs_on_the_fallback_when_the_first_provider_is_overloaded() {
    let strong = MockServer::start().expect("a mock server");
    let local = MockServer::start().expect("a mock server");
    strong.respond_with(|_: &Recorded| {
        Reply::Error(ApiError::new(529, "Overloaded").retry_after(60))
    });
    local.respond_with(|_: &Recorded| {
        Reply::text(r#"{"summary": "checked in on the local model", "actions": []}"#)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aito.toml"),
        providers(&strong.url(), &local.url()),
    )
    .expect("config");
    let mut command = aito(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    );
    command.env("AITO_TEST_ANTHROPIC_KEY", "sk-test-key");
    let run = output(command);
    let (stdout, stderr) = texts(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("model router over"), "{stdout}");
    assert!(stdout.contains("checked in on the local model"), "{stdout}");
    assert_eq!(
        strong.model_calls().len(),
        1,
        "the check-in went to the strong model first"
    );
    assert_eq!(
        strong.model_calls()[0].header("x-api-key"),
        Some("sk-test-key")
    );
    let calls = local.model_calls();
    assert_eq!(calls.len(), 1, "then fell back to the local one");
    let call = ChatRequest::parse(&calls[0]).expect("a chat call");
    assert!(call.system_text().contains("CTO"), "{}", call.system_text());
    assert!(
        !stderr.contains("sk-test-key"),
        "the key stays out of the logs"
    );
}
