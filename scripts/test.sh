#!/usr/bin/env bash
# Quick start, command 2: the whole test suite. Lints, native unit and handler tests, the
# beacon's tests in headless Chromium, and the end-to-end tests (real collector, real
# Chromium) that live in the spoor-e2e crate and run as part of `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*" >&2; }

# Test output is also collected here, so the run ends with one line that sums it up.
results=$(mktemp)
trap 'rm -f "$results"' EXIT

step "setup"
scripts/setup.sh && scripts/build-dashboard.sh

# The beacon and the dashboard's vendored files are built before cargo compiles the
# collector, which embeds them (collector/build.rs).
step "build the beacon"
scripts/build-beacon.sh

step "beacon size against beacon/size-budget"
scripts/beacon-size.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy (beacon, wasm32)"
cargo clippy -p spoor-beacon --target wasm32-unknown-unknown --all-targets -- -D warnings

step "cargo test --workspace (unit, handler and end-to-end tests)"
cargo test --workspace 2>&1 | tee -a "$results"

step "wasm-pack test --headless --chrome beacon"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" wasm-pack test --headless --chrome beacon 2>&1 |
    tee -a "$results"

# The write-path benchmark's smoke (issue #12): seconds long, debug binaries that
# `cargo test` built, figures printed, no thresholds; it fails only if the collector's store
# does not account for the events it received and acknowledged.
step "scripts/bench.sh --smoke"
scripts/bench.sh --smoke

# Every "test result: ok. N passed; M failed" line, summed (failures stopped the run above).
awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "\nsummary: %d passed, %d failed\n", p, f }' "$results"
