#!/usr/bin/env bash
# Quick start, command 1: build everything (the wasm beacon included) and start the
# collector on 127.0.0.1:8080 with the SQLite store data/spoor.db and the demo site from www/.
# Extra arguments go to spoor-collector (see `--help`); SPOOR_* variables work too.
# The collector prints a one-time sign-in URL (and, on the first run, the admin token it
# made) to the terminal: one click opens the dashboard signed in.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
# Before cargo: the collector embeds the built beacon and www/ (collector/build.rs).
scripts/build-beacon.sh && scripts/build-dashboard.sh
cargo build --release --quiet -p spoor-collector
echo "Spoor: the demo site is http://${SPOOR_LISTEN:-127.0.0.1:8080}/; open the sign-in link printed below for the dashboard (Ctrl-C stops)" >&2
exec target/release/spoor-collector "$@"
