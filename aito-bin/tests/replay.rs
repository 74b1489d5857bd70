//! Record and replay through the binary: the shipped demo recording replays with no
//! divergence, a fresh run records and replays the same, and a changed answer is reported at
//! its step with exit 1.

mod binary;

use std::path::{Path, PathBuf};

use binary::{aito, output, texts};

fn shipped_recording() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios/demo.recording.jsonl")
}

#[test]
fn the_shipped_demo_recording_replays_without_divergence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = shipped_recording();
    let replay = output(aito(dir.path(), &["replay", file.to_str().expect("path")]));
    let (stdout, stderr) = texts(&replay);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "the demo diverged from examples/scenarios/demo.recording.jsonl; if what agents see or do changed on purpose, run scripts/record-demo.sh\n{stdout}{stderr}"
    );
    assert!(stdout.contains("21 sessions"), "{stdout}");
    assert!(stdout.contains("No divergence"), "{stdout}");
}

#[test]
fn a_recorded_run_replays_and_a_changed_answer_is_reported_at_its_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = output(aito(
        dir.path(),
        &[
            "run",
            "--llm",
            "demo",
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
            "--record",
            "run.jsonl",
        ],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    let replay = output(aito(dir.path(), &["replay", "run.jsonl"]));
    let (stdout, _) = texts(&replay);
    assert_eq!(replay.status.code(), Some(0), "{stdout}");

    // The CTO proposes a major decision in one of its answers; make it a minor one.
    let text = std::fs::read_to_string(dir.path().join("run.jsonl")).expect("recording");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut step = 0;
    for (index, line) in lines.iter_mut().enumerate() {
        let mut entry: serde_json::Value = serde_json::from_str(line).expect("an entry");
        let answer = entry["outcome"]["answer"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let proposes_major = entry["kind"] == "session"
            && entry["role"] == "cto"
            && answer.contains(r#""tier":"major""#);
        if proposes_major {
            let changed = answer.replace(r#""tier":"major""#, r#""tier":"minor""#);
            entry["outcome"]["answer"]["text"] = serde_json::Value::String(changed);
            *line = entry.to_string();
            step = index + 1;
            break;
        }
    }
    assert!(step > 0, "no CTO answer proposes a major decision");
    std::fs::write(dir.path().join("changed.jsonl"), lines.join("\n")).expect("write");
    let replay = output(aito(dir.path(), &["replay", "changed.jsonl"]));
    let (stdout, stderr) = texts(&replay);
    assert_eq!(replay.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("step {step} (cto): actions differs")),
        "step {step}:\n{stdout}"
    );
    assert!(stderr.contains("diverged"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_recording_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.jsonl"), "{\"kind\": \"tick\"}\n").expect("write");
    let replay = output(aito(dir.path(), &["replay", "bad.jsonl"]));
    let (_, stderr) = texts(&replay);
    assert_eq!(replay.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl") && stderr.contains("line 1"),
        "{stderr}"
    );
}
