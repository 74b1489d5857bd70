#!/usr/bin/env bash
# The release checks: what a user of the published crates depends on, checked on every change
# rather than on the day of a release (docs/releasing.md). CI runs this script (.ci/run); run
# it before tagging a release.
#
#   1. every published crate's manifest and package contents      aito-release check
#   2. the image's Claude Code CLI is the one the tests run        deploy/Dockerfile
#      the README's embedding example is its program's text       aito-release readme
#   3. the public API: the committed snapshots                    aito-release api
#      and cargo semver-checks against the last release tag, once there is one
#   4. the docs as docs.rs builds them (all features, --cfg docsrs)
#   5. licenses, bans and sources of the dependency graph         cargo deny (offline)
#   6. cargo package of every published crate, each built from its packaged sources
#   7. the packaged aito-core on its own: its doc tests, unpacked outside the workspace
#   8. the README's example built and run against the packaged crates, by version, [patch]ed
#
# The published crates are those `cargo metadata` does not mark `publish = false`: a new crate
# is picked up without changing this script. Each step prints how long it took.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh

target="${CARGO_TARGET_DIR:-$root/target}"
# Packages unpacked here, outside the workspace, so cargo sees each as a crate of its own; the
# path is fixed per checkout so repeated runs reuse their builds.
unpacked="${TMPDIR:-/tmp}/aito-release-check.$(printf %s "$root" | cksum | cut -d' ' -f1)"

step_name=""
step_start=0
step() {
    finish_step
    step_name="$*"
    step_start=$SECONDS
    printf '\n--> %s\n' "$step_name"
}
finish_step() {
    if [ -n "$step_name" ]; then
        printf -- '--> done in %ss: %s\n' $((SECONDS - step_start)) "$step_name"
    fi
}

release() {
    cargo run --quiet --locked -p aito-release -- "$@"
}

step "build aito-release"
cargo build --quiet --locked -p aito-release

# name, version and directory of each published crate.
names=()
versions=()
dirs=()
while read -r name version dir; do
    names+=("$name")
    versions+=("$version")
    dirs+=("$dir")
done < <(release packages)
if [ "${#names[@]}" -eq 0 ]; then
    echo "release-check: no published crate in the workspace" >&2
    exit 1
fi
echo "published: ${names[*]}"

step "manifests and package contents (aito-release check)"
release check

step "the image's Claude Code CLI is the version the tests run"
tested="$(sed -n 's/.*"@anthropic-ai\/claude-code": "\([^"]*\)".*/\1/p' scripts/claude-code/package.json)"
image="$(sed -n 's/^ARG CLAUDE_CODE_VERSION=//p' deploy/Dockerfile)"
if [ -z "$tested" ] || [ "$tested" != "$image" ]; then
    echo "release-check: deploy/Dockerfile installs Claude Code '$image', the tests run '$tested' (scripts/claude-code/package.json)" >&2
    exit 1
fi

step "the README's embedding example is its program's text (aito-release readme)"
release readme
cargo fmt --manifest-path scripts/readme-example/Cargo.toml -- --check

step "public-API snapshots (aito-release api)"
release api

tag="$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || true)"
if [ -n "$tag" ]; then
    step "cargo semver-checks against $tag"
    ensure_cargo_tool cargo-semver-checks "$CARGO_SEMVER_CHECKS_VERSION" semver-checks
    # A crate added since the tag has nothing to be compared with.
    new_crates=()
    for i in "${!names[@]}"; do
        if ! git cat-file -e "$tag:${dirs[$i]}/Cargo.toml" 2>/dev/null; then
            echo "(${names[$i]} is new since $tag: nothing to compare it with)"
            new_crates+=(--exclude "${names[$i]}")
        fi
    done
    cargo semver-checks --workspace --baseline-rev "$tag" "${new_crates[@]}"
else
    echo "(no release tag yet: semver-checks starts with the first release; the snapshots stand in)"
fi

step "docs as docs.rs builds them (all features, --cfg docsrs, warnings are errors)"
# docs.rs builds with nightly; RUSTC_BOOTSTRAP lets stable accept the same `doc_cfg` feature.
# Same target directory as the API snapshots, which also need RUSTC_BOOTSTRAP.
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" \
    cargo doc --quiet --locked --no-deps --all-features --target-dir "$target/public-api" \
    "${names[@]/#/-p=}"

step "licenses, bans and sources (cargo deny, offline)"
ensure_cargo_tool cargo-deny "$CARGO_DENY_VERSION" deny
# cargo deny reads the graph of every platform (windows-sys included), so the packages of all
# targets must be in the local cache first; `cargo fetch` with no --target fetches them all.
cargo fetch --locked --quiet
cargo deny --offline --locked check licenses bans sources

step "cargo package: ${names[*]} (each built from its package)"
# Several packages at once: cargo verifies each against the others through a local registry
# overlay, as they will be on the registry.
# Cargo unpacks the overlay's crates under $CARGO_HOME, keyed by name and version alone: a copy
# left by an earlier run of the same version would be built instead of today's sources.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for i in "${!names[@]}"; do
    rm -rf "$cargo_home"/registry/src/-*/"${names[$i]}-${versions[$i]}" \
        "$cargo_home"/registry/cache/-*/"${names[$i]}-${versions[$i]}.crate"
done
cargo package --locked --allow-dirty "${names[@]/#/-p=}"

rm -rf "$unpacked"
mkdir -p "$unpacked"
patches=()
core_version=""
for i in "${!names[@]}"; do
    name="${names[$i]}"
    version="${versions[$i]}"
    tar -xzf "$target/package/$name-$version.crate" -C "$unpacked"
    patches+=(--config "patch.crates-io.$name.path=\"$unpacked/$name-$version\"")
    if [ "$name" = aito-core ]; then core_version="$version"; fi
done
step "the packaged aito-core $core_version on its own: doc tests"
(cd "$unpacked/aito-core-$core_version" && cargo test --locked --doc --target-dir "$target")

step "the README's example against the packaged crates (scripts/readme-example)"
example="$root/scripts/readme-example"
# The versions the workspace is tested with; cargo drops what the example does not use.
cp "$root/Cargo.lock" "$example/Cargo.lock"
cargo run --quiet --manifest-path "$example/Cargo.toml" --target-dir "$target" "${patches[@]}"

finish_step
echo
echo "release-check: all checks passed for ${names[*]}"
