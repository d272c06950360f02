#!/usr/bin/env bash
# Quick start, command 2: the whole test suite. Lints, native unit and handler tests, the
# beacon's tests in headless Chromium, and the end-to-end tests (real collector, real
# Chromium) that live in the spoor-e2e crate and run as part of `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*" >&2; }

step "setup"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy (beacon, wasm32)"
cargo clippy -p spoor-beacon --target wasm32-unknown-unknown --all-targets -- -D warnings

step "build the beacon"
scripts/build-beacon.sh

step "beacon size against beacon/size-budget"
scripts/beacon-size.sh

step "cargo test --workspace (unit, handler and end-to-end tests)"
cargo test --workspace

step "wasm-pack test --headless --chrome beacon"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" wasm-pack test --headless --chrome beacon
