#!/bin/sh
# Sets a fresh Debian machine up for berth (as root: packages, Rust, a release build), makes
# the busybox image the quickstart runs, and brings the quickstart stack up in the background.
#
#   sh examples/quickstart/start.sh
#
# Then open http://localhost:8080/. `berth --project-directory examples/quickstart down`
# takes it away again (`down -v` also removes its named volume).
set -eu
cd "$(dirname "$0")/../.."
bash .ci/setup
PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --quiet --bin berth
PATH="$PWD/target/release:$PATH"
export PATH
sh examples/make-busybox-image.sh
berth --project-directory examples/quickstart up -d
echo
echo "The quickstart runs: open http://localhost:8080/ (the API answers at /cgi-bin/api)."
echo "Run \"target/release/berth --project-directory examples/quickstart ps\" to see it."
