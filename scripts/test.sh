#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need
# (redis-server for the Redis integration tests, the real Claude Code CLI for the adapter's
# contract tests, Chromium for the dashboard's browser test), then the whole test suite with
# doc tests, then the browser test.
#
# Tests never use a Redis already running on the machine: each starts its own redis-server on
# a free port in a temporary directory. The Claude Code CLI never reaches the network: the
# tests point it at a local stand-in for the Messages API (aito-mock-api).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v redis-server >/dev/null 2>&1; then
    echo "test: installing Debian's redis-server (the Redis integration tests start their own)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
fi

# The Claude Code CLI, pinned in scripts/claude-code/package.json (and its lock file), into
# target/claude-code/<version>, where the tests look for it (aito_mock_api::claude_code).
bash scripts/install-claude-code.sh

echo "test: cargo test --workspace (unit, integration and doc tests)"
cargo test --workspace

echo "test: the dashboard in headless Chromium"
bash scripts/browser-test.sh
