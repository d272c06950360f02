#!/usr/bin/env bash
# Vendors the dashboard's charting library into www/dashboard/vendor/ (git-ignored), so the
# collector serves everything the dashboard loads and no page reaches a CDN: Apache ECharts'
# prebuilt ES module from node_modules/echarts (pinned in package.json, installed by
# scripts/setup.sh), with its LICENSE, NOTICE and bundled third-party licence.
# Idempotent: the copies are simply made again.
set -euo pipefail
cd "$(dirname "$0")/.."

src=node_modules/echarts
dest=www/dashboard/vendor
if [ ! -f "$src/dist/echarts.esm.min.mjs" ]; then
    echo "[build-dashboard] $src is missing: run scripts/setup.sh first" >&2
    exit 1
fi
mkdir -p "$dest"
cp "$src/dist/echarts.esm.min.mjs" "$dest/echarts.esm.min.mjs"
cp "$src/LICENSE" "$dest/ECHARTS-LICENSE"
cp "$src/NOTICE" "$dest/ECHARTS-NOTICE"
cp "$src/licenses/LICENSE-d3" "$dest/ECHARTS-LICENSE-d3"
