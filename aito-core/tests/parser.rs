//! The response parser against realistic model outputs (tests/fixtures/responses, with the
//! expected reading of each in tests/fixtures/expected.json), and properties over arbitrary
//! input.

use std::collections::BTreeMap;
use std::path::Path;

use aito_core::action::Action;
use aito_core::parse_response;
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    summary: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    messages: usize,
    #[serde(default)]
    state: Vec<String>,
    #[serde(default)]
    unknown: usize,
    #[serde(default)]
    invalid: usize,
    error: Option<String>,
}

#[test]
fn every_fixture_is_read_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let files: Vec<String> = std::fs::read_dir(dir.join("responses"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.len() >= 20,
        "at least 20 fixtures, found {}",
        files.len()
    );
    for file in &files {
        assert!(expected.contains_key(file), "{file} has no expectation");
    }
    for (file, expect) in &expected {
        let text = std::fs::read_to_string(dir.join("responses").join(file)).unwrap();
        let result = parse_response(&text);
        match (&expect.error, result) {
            (Some(needle), Err(err)) => {
                let message = err.to_string();
                assert!(
                    message.starts_with("expected one JSON object"),
                    "{file}: {message}"
                );
                assert!(
                    message.contains(needle.as_str()),
                    "{file}: {message:?} lacks {needle:?}"
                );
            }
            (Some(_), Ok(response)) => panic!("{file}: expected an error, got {response:?}"),
            (None, Err(err)) => panic!("{file}: {err}"),
            (None, Ok(response)) => {
                assert_eq!(response.summary, expect.summary, "{file}");
                let kinds: Vec<&str> = response.actions.iter().map(Action::kind).collect();
                assert_eq!(kinds, expect.actions, "{file}");
                assert_eq!(response.messages.len(), expect.messages, "{file}");
                let keys: Vec<&String> = response.state_updates.keys().collect();
                assert_eq!(keys, expect.state.iter().collect::<Vec<_>>(), "{file}");
                let unknown = response
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::Unknown { .. }))
                    .count();
                let invalid = response
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::Invalid { .. }))
                    .count();
                assert_eq!(
                    (unknown, invalid),
                    (expect.unknown, expect.invalid),
                    "{file}"
                );
            }
        }
    }
}

#[test]
fn content_with_a_code_fence_keeps_its_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/responses");
    let text = std::fs::read_to_string(dir.join("24-code-fence-inside-content.txt")).unwrap();
    let response = parse_response(&text).unwrap();
    let Action::Operational { files, commit, .. } = &response.actions[0] else {
        panic!("{response:?}");
    };
    assert_eq!(
        files[0].content,
        "# Example\n```rust\nfn main() { println!(\"hi\"); }\n```\n"
    );
    assert_eq!(commit.as_deref(), Some("Add example"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_response(&text);
    }

    #[test]
    fn json_like_noise_never_panics(text in r#"[{}\[\]",:a-z0-9\\ \n`]{0,400}"#) {
        let _ = parse_response(&text);
    }

    #[test]
    fn a_response_survives_any_prose_around_it(
        before in "[a-zA-Z .,!?\n]{0,300}",
        after in "[a-zA-Z .,!?\n]{0,300}",
        fenced in any::<bool>(),
        summary in "[a-zA-Z][a-zA-Z {}\"]{0,40}",
    ) {
        let object = serde_json::json!({"summary": summary, "actions": [{"type": "alert", "data": {"message": "m"}}]}).to_string();
        let body = if fenced { format!("```json\n{object}\n```") } else { object };
        let response = parse_response(&format!("{before}{body}{after}")).unwrap();
        prop_assert_eq!(response.summary, Some(summary));
        prop_assert_eq!(response.actions.len(), 1);
    }
}
