#!/usr/bin/env bash
# Records the demo company (the built-in scenario on the embedded defaults) to
# examples/scenarios/demo.recording.jsonl, the recording `aito replay` is tested against.
# Run it after an intended change to what agents see or do (prompts, actions, decisions).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --quiet -p aito-bin --manifest-path "$root/Cargo.toml"
aito="${CARGO_TARGET_DIR:-$root/target}/debug/aito"
out="$root/examples/scenarios/demo.recording.jsonl"
(cd "$work" && AITO_LLM_CLAUDE_BINARY=aito-no-claude-here "$aito" run --llm demo --exit-when-idle \
    --bind 127.0.0.1:0 --record "$out" > /dev/null)
"$aito" replay "$out"
echo "recorded $out"
