#!/usr/bin/env bash
# Runs a fuzz target for a given time, seeded with the loader corpus and the examples.
# Usage: fuzz/run.sh [TARGET] [SECONDS]   (defaults: load_project, 600)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain provide them.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-load_project}
seconds=${2:-600}
seeds=fuzz/corpus/$target
mkdir -p "$seeds"
i=0
for f in tests/corpus/awesome-compose/*/compose.yaml tests/corpus/merge/*/*.yaml \
         tests/corpus/normalize/*/input.yaml tests/corpus/loader-errors/*/*.yaml \
         tests/corpus/full-example/full-example.yml examples/*/compose.yaml; do
  cp "$f" "$seeds/seed-$i.yaml"; i=$((i + 1))
done
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096
