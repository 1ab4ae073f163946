#!/usr/bin/env bash
# `berth config` against `docker-compose config` (Debian's docker-compose, which needs no
# daemon for this) on the same project, in one run, with hyperfine. Prints the ratio.
# Usage: bench/config-vs-others.sh [PROJECT_DIR]   (default: examples/wordpress)
set -euo pipefail
cd "$(dirname "$0")/.."
project=${1:-examples/wordpress}
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine
command -v docker-compose >/dev/null || apt-get install -y -qq --no-install-recommends docker-compose
cargo build --release -q --bin berth
berth=$PWD/target/release/berth
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(cd "$project" && hyperfine -N --warmup 3 --runs 30 --export-json "$out" \
  "$berth config" "docker-compose config" >/dev/null)
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
b, d = r[0]["median"], r[1]["median"]
print(f"berth config: median {b*1000:.1f} ms; docker-compose config: median {d*1000:.1f} ms; "
      f"docker-compose / berth = {d/b:.1f}x")
PY
