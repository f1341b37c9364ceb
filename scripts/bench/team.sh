#!/usr/bin/env bash
# Team mode at scale (docs/performance.md, "Team mode on PostgreSQL"): whole-process timings of
# the team store's operations at a small and a large N, on a release build, against the
# machine's PostgreSQL (trust auth; SITREP_BENCH_PG overrides the server URL).
#
# Usage: scripts/bench/team.sh            Environment: SIZES ["1000 1000000"], RUNS [5], BIN
# Each size gets its own database sitrep_bench_<N>, seeded in SQL from the corpus's Prisma
# CSPM item (each alert a copy with its own id and score), and its own replica. Prints
# tab-separated lines: size, operation, then runs.py's fields (wall ms, CPU ms, RSS MiB).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZES=${SIZES:-"1000 1000000"}
RUNS=${RUNS:-5}
SERVER=${SITREP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
CORPUS=${CORPUS:-$ROOT/../shared/corpus/prisma-cspm/elastic-v2-alert-post-page1.json}
if [[ -z "${BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release --quiet)
  BIN=$ROOT/target/release/sitrep
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TEMPLATE=$(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['items'][0]))" "$CORPUS")

psql_db() { psql "$SERVER/$1" -v ON_ERROR_STOP=1 -qAt "${@:2}"; }

for n in $SIZES; do
  db=sitrep_bench_$n
  psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  export SITREP_DATABASE_URL="$SERVER/$db?sslmode=disable"
  export XDG_DATA_HOME=$WORK/data-$n XDG_CONFIG_HOME=$WORK/config-$n SITREP_NOW=2026-12-07T12:00:00Z
  "$BIN" store migrate >/dev/null
  t0=$(date +%s.%N)
  psql_db "$db" -v template="$TEMPLATE" -v n="$n" <<'SQL'
INSERT INTO alerts (id, source, vendor, raw, content_hash, score, severity_rank, imported_at, seq, vendor_seq)
SELECT 'prisma-cspm:B-' || g, 'prisma-cspm', 'prisma-cspm',
       jsonb_set(:'template'::jsonb, '{id}', to_jsonb('B-' || g))::text,
       md5(g::text), (g::bigint * 7919 % 1000) / 10.0, 3, 1796644800000, s, s
FROM (SELECT g, nextval('change_seq') AS s FROM generate_series(1, :'n'::int) g) x;
ANALYZE alerts;
SQL
  echo -e "$n\tseed (SQL)\t$(python3 -c "import time,sys; print(round((time.time()-float(sys.argv[1]))*1000))" "$t0")"
  # The first pull maps and imports every alert into the replica: once.
  python3 "$HERE/runs.py" --runs 1 --warmup 0 --label "$n	first pull (next --count 1)" -- \
    "$BIN" next --count 1 --format json
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	next (claim the best unclaimed)" -- \
    "$BIN" next --count 1 --format json
  id=$(psql_db "$db" -c "SELECT id FROM alerts WHERE claimed_by IS NULL ORDER BY score, id LIMIT 1")
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	claim ID (extend)" -- \
    "$BIN" claim "$id"
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	note ID (decision + audit)" -- \
    "$BIN" note "$id" --text checked
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	claim --list" -- \
    "$BIN" claim --list --format json
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	list --limit 50 (replica)" -- \
    "$BIN" list --limit 50
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	list --filter sev:critical (replica)" -- \
    "$BIN" list --limit 50 --filter sev:critical
  python3 "$HERE/runs.py" --runs "$RUNS" --label "$n	store status (counts on PostgreSQL)" -- \
    "$BIN" store status
  if [[ "${KEEP:-}" != 1 ]]; then
    psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  fi
done
