#!/usr/bin/env bash
# Build sitrep, import the example payloads of all six vendors into a throwaway database,
# and show the queue. Nothing outside a temporary directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=./target/release/sitrep
tmp=$(mktemp -d)
export SITREP_DB="$tmp/sitrep.db" SITREP_CONFIG="$tmp/config.toml"
: > "$SITREP_CONFIG"   # built-in defaults, whatever your own config says
for v in prisma-cspm prisma-compute wiz lacework orca cortex-xdr; do
  "$bin" import --vendor "$v" "examples/data/$v.json"
done
echo
"$bin" list --limit 20
echo
echo "The database is $SITREP_DB. Try, for example:"
echo "  SITREP_DB=$SITREP_DB $bin list --filter 'sev:critical cloud:aws'"
echo "  SITREP_DB=$SITREP_DB $bin show <REF or ID from the list>"
