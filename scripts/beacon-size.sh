#!/usr/bin/env bash
# Prints the size of the built beacon, as served: raw and gzip -9 bytes of
# beacon/pkg/spoor.js and beacon/pkg/spoor_bg.wasm and their sum, and checks the gzipped
# sum against the budget in beacon/size-budget (one integer, bytes).
#
#   scripts/beacon-size.sh            exit 1 when over budget
#   scripts/beacon-size.sh --report   print only; exit 0 whatever the size
#
# Exits 2 when the beacon is not built (run scripts/build-beacon.sh first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

report_only=false
case "${1:-}" in
    --report) report_only=true ;;
    "") ;;
    *)
        echo "usage: scripts/beacon-size.sh [--report]" >&2
        exit 2
        ;;
esac

files=(beacon/pkg/spoor.js beacon/pkg/spoor_bg.wasm)
for f in "${files[@]}"; do
    if [[ ! -f "$f" ]]; then
        echo "beacon-size: $f is missing; run scripts/build-beacon.sh" >&2
        exit 2
    fi
done

budget=$(tr -d '[:space:]' <beacon/size-budget)
if [[ ! "$budget" =~ ^[0-9]+$ ]]; then
    echo "beacon-size: beacon/size-budget must hold one integer (bytes gzipped)" >&2
    exit 2
fi

raw_total=0
gz_total=0
printf '%-26s %8s %10s\n' file 'raw B' 'gzip -9 B'
for f in "${files[@]}"; do
    raw=$(wc -c <"$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    raw_total=$((raw_total + raw))
    gz_total=$((gz_total + gz))
    printf '%-26s %8d %10d\n' "$f" "$raw" "$gz"
done
printf '%-26s %8d %10d\n' total "$raw_total" "$gz_total"

if ((gz_total <= budget)); then
    printf 'budget %d B gzipped: %d B to spare\n' "$budget" $((budget - gz_total))
    exit 0
fi
printf 'budget %d B gzipped: OVER by %d B\n' "$budget" $((gz_total - budget))
if $report_only; then
    exit 0
fi
exit 1
