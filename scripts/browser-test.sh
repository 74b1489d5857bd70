#!/usr/bin/env bash
# The dashboard's browser test: the shipped demo scenario (aito-bin/defaults/demo.json) run in
# process until its critical decision is escalated, the dashboard on a free port, and Debian's
# headless Chromium driven by playwright-core through it (see aito-bin/tests/browser.rs and
# scripts/browser/dashboard.mjs): the demo's tasks, conversation, a session and the spend chart,
# then approving its escalated decision, the worker log, health and the phone layout.
# Screenshots are written to target/dashboard-agents.png, target/dashboard-tasks.png,
# target/dashboard-task.png, target/dashboard-conversations.png, target/dashboard-session.png,
# target/dashboard-spend.png, target/dashboard.png, target/dashboard-health.png and
# target/dashboard-phone.png.
#
# Installs what is missing: Debian's chromium (and node/npm), and playwright-core from npm.
# Playwright's own browser download is never used.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v chromium >/dev/null 2>&1; then
    echo "browser-test: installing Debian's chromium"
    apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "browser-test: installing node and npm"
    apt_install nodejs npm
fi

if [ ! -d scripts/browser/node_modules/playwright-core ]; then
    echo "browser-test: installing playwright-core"
    (cd scripts/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

echo "browser-test: $(chromium --version 2>/dev/null || echo chromium), node $(node --version)"
AITO_BROWSER_TEST=1 AITO_CHROMIUM="$(command -v chromium)" \
    cargo test -p aito-bin --test browser -- --nocapture
