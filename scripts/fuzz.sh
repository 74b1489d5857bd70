#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo fuzz): the model's response parser, the envelope
# decoder and the configuration loader, each for FUZZ_SECONDS (default 60), from the committed
# seed corpora in fuzz/seeds/<target>. Installs cargo-fuzz when missing.
#
#   bash scripts/fuzz.sh                  # every target, 60 s each (CI)
#   FUZZ_SECONDS=3600 bash scripts/fuzz.sh envelope   # one target, an hour
#
# cargo-fuzz needs nightly compiler flags: on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# The code under test forbids `unsafe`, so the targets run without a sanitizer by default
# (FUZZ_SANITIZER=address to use AddressSanitizer). A crash leaves its input in
# fuzz/artifacts/<target>/; docs/testing.md says what to do with it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse_response envelope config)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer "$sanitizer"

for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s"
    # A scratch corpus, so that a run never rewrites the committed seeds.
    corpus="$(mktemp -d)"
    trap 'rm -rf "$corpus"' EXIT
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    rm -rf "$corpus"
    trap - EXIT
done
