#!/usr/bin/env bash
# Installs the Claude Code CLI the real-CLI tests run, when it is missing: the npm package
# @anthropic-ai/claude-code at the version pinned in scripts/claude-code/package.json (the
# one place the version is written; package-lock.json pins its integrity), into
# target/claude-code/<version>. Installs node and npm from Debian first when they are missing.
# Prints the path of the installed `claude`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-claude-code: installing node and npm" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi

package="@anthropic-ai/claude-code"
version="$(node -p "require('./scripts/claude-code/package.json').dependencies['$package']")"
dest="target/claude-code/$version"
claude="$dest/node_modules/.bin/claude"
# `claude --version`, offline, with a scratch home so that nothing is written to the real one.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cli_version() {
    HOME="$scratch" DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 "$claude" --version
}

if [ ! -x "$claude" ] || ! cli_version >/dev/null 2>&1; then
    echo "install-claude-code: installing $package $version into $dest" >&2
    rm -rf "$dest"
    mkdir -p "$dest"
    cp scripts/claude-code/package.json scripts/claude-code/package-lock.json "$dest/"
    # The package's engines field asks for a newer node than some distributions ship; only
    # its install script runs under node (the CLI itself is a native binary), and that works.
    (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >&2)
fi
echo "install-claude-code: $(cli_version) at $claude" >&2
echo "$root/$claude"
