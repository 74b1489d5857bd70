# The cargo tools the checks use, and the one place their versions are pinned. Sourced by
# scripts/release-check.sh; CI starts from a clean clone, so a tool is installed when missing
# or at another version (`cargo install --locked`, into ~/.cargo/bin).
#
# Cold installs take minutes (docs/releasing.md has the figures); afterwards a check costs only
# its own run.

# Licenses, bans and sources of the dependency graph (deny.toml).
CARGO_DENY_VERSION=0.20.2
# Public-API compatibility against the last tagged release; installed only once a tag exists.
CARGO_SEMVER_CHECKS_VERSION=0.51.0

# ensure_cargo_tool CRATE VERSION SUBCOMMAND: installs CRATE at VERSION unless
# `cargo SUBCOMMAND --version` already names that version.
ensure_cargo_tool() {
    local crate=$1 version=$2 subcommand=$3
    if cargo "$subcommand" --version 2>/dev/null | grep -qw -- "$version"; then
        return 0
    fi
    echo "tools: installing $crate $version (cargo install --locked)"
    cargo install --locked --quiet "$crate" --version "$version"
}
