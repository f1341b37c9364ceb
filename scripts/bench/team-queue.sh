#!/usr/bin/env bash
# Queue reads on the team store (docs/performance.md, "Team mode on PostgreSQL: queue reads"):
# `sitrep list --limit 50` (the table: a page and its count) with no filter and one filter of
# each kind, read by `list --direct` from a PostgreSQL team store and by `list` from a SQLite
# store holding the same alerts, at each size. Release build; the machine's PostgreSQL (trust
# auth; SITREP_BENCH_PG overrides the server URL).
#
# Usage: scripts/bench/team-queue.sh      Environment: SIZES ["1000 100000"], RUNS [5], SEED [1],
#   BIN, BENCH_DIR [/tmp/bench-team-queue], KEEP=1 keeps the team store databases.
# The SQLite store of N alerts is scale.sh's (gen-prisma.py, seed SEED, imported in chunks);
# the team store gets the same alerts by `store copy --merge` (the publisher's statement).
# Prints tab-separated lines: size, filter, backend, runs.py's fields (wall ms, CPU ms, RSS
# MiB), then the server's time for that command (the sum of its statements' durations as
# PostgreSQL logs them with log_min_duration_statement = 0; "-" for SQLite).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZES=${SIZES:-"1000 100000"}
RUNS=${RUNS:-5}
SEED=${SEED:-1}
WORK=${BENCH_DIR:-/tmp/bench-team-queue}
SERVER=${SITREP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PGLOG=${PGLOG:-/var/log/postgresql/postgresql-15-main.log}
if [[ -z ${BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release --bin sitrep >&2)
    BIN=$ROOT/target/release/sitrep
fi
mkdir -p "$WORK"
CFG=$WORK/empty.toml
: >"$CFG"
export XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config SITREP_NOW=2026-12-07T12:00:00Z
psql_db() { psql "$SERVER/$1" -v ON_ERROR_STOP=1 -qAt "${@:2}"; }

# The server's time for one run of a command: the durations PostgreSQL logs for it.
server_ms() {
    local before
    before=$(stat -c %s "$PGLOG")
    "$@" >/dev/null 2>&1
    sleep 0.2
    tail -c +"$((before + 1))" "$PGLOG" | awk '/duration: [0-9.]+ ms/ {
        for (i = 1; i <= NF; i++) if ($i == "duration:") s += $(i + 1) } END { printf "%.2f", s }'
}

printf 'size\tfilter\tbackend\twall ms\tcpu ms\trss MiB\tserver ms\n'
for n in $SIZES; do
    store=$(BIN=$BIN BENCH_DIR=$WORK SIZES=$n SEED=$SEED KEEP=1 "$HERE/scale.sh" stores | tail -1)
    db=sitrep_qbench_$n
    url="$SERVER/$db?sslmode=disable"
    if [[ $(psql_db postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$db'") == 0 ]]; then
        psql_db postgres -c "CREATE DATABASE $db"
        SITREP_DATABASE_URL=$url "$BIN" --config "$CFG" store migrate >&2
        t0=$(date +%s)
        /usr/bin/time -f "store copy: %e s wall, %U+%S s CPU (client)" \
            "$BIN" --config "$CFG" store copy --from "sqlite:$store" --to "$url" --merge >&2
        echo "team-queue.sh: $n alerts copied in $(($(date +%s) - t0)) s" >&2
        psql_db "$db" -c "VACUUM ANALYZE alerts"
    fi
    account=$(sqlite3 "$store" "SELECT account FROM alerts GROUP BY account ORDER BY count(*) DESC, account LIMIT 1")
    for f in "" "sev:critical" "vendor:prisma-cspm" "account:$account" "tag:env=prod" \
        "cve:CVE-2021-44228" "host"; do
        args=(list --limit 50)
        [[ -n $f ]] && args+=(--filter "$f")
        label="$n	${f:-(none)}"
        python3 "$HERE/runs.py" --runs "$RUNS" --label "$label	SQLite" -- \
            "$BIN" --db "$store" --config "$CFG" "${args[@]}" | cut -f1-6 | tr '\n' '\t'
        echo "-"
        SITREP_DATABASE_URL=$url python3 "$HERE/runs.py" --runs "$RUNS" --label "$label	PostgreSQL" -- \
            "$BIN" --config "$CFG" "${args[@]}" --direct | cut -f1-6 | tr '\n' '\t'
        # Warm, like the runs above: the median of three logged runs.
        psql_db postgres -c "ALTER DATABASE $db SET log_min_duration_statement = 0" >/dev/null
        for _ in 1 2 3; do
            server_ms env SITREP_DATABASE_URL="$url" "$BIN" --config "$CFG" "${args[@]}" --direct
            echo
        done | sort -n | sed -n 2p
        psql_db postgres -c "ALTER DATABASE $db RESET log_min_duration_statement" >/dev/null
    done
    if [[ ${KEEP:-} != 1 ]]; then
        psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    fi
done
