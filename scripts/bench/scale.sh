#!/usr/bin/env bash
# The million-alerts benches (docs/performance.md, "A million alerts"): whole-process timing of
# the queue commands, console keys, import against `jq -c '.items[]'`, and a full sync from the
# simulator, each at a large N against the same at a small N, on a release build.
#
# Usage: scripts/bench/scale.sh [PART ...]   PARTs: import list console sync (default: all, in that order);
#        `stores` only builds the stores and prints their paths
# Environment (defaults in brackets):
#   SIZES        "SMALL LARGE ..." alert counts; the first is the baseline of every ratio ["1000 1000000"]
#   SEED         generator seed [1]            RUNS   runs per timing, after one warm-up [5]
#   BENCH_DIR    inputs and stores, cached by seed, N and commit [/tmp/bench]
#   BIN          sitrep binary [builds target/release/sitrep]
#   CHUNK        alerts per import when building a store [100000]
#   IMPORT_SIZES sizes whose whole file is imported [SIZES]   IMPORT_RUNS [3; 1 above 100k]
#   MEM_GUARD_GIB  address-space limit for import and jq, so a run out of memory fails alone [12]
#   JQ_MAX       largest N on which jq runs (it holds the whole document, ~5x the file) [100000]
#   SYNC_SIZE    alerts served by the simulator for the sync part [the largest of SIZES]
#   SYNC_CONSOLE_AFTER  seconds into the sync when a console measures keys on its store [300]
#   KEEP=1       keep inputs and stores above 100k (default: each is deleted once its parts are done;
#                the 1M file is 3.4 GB, the 1M store about 5 GB)
# Needs: python3, jq, tmux, /usr/bin/time. Prints tab-separated tables on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZES=${SIZES:-"1000 1000000"}
SEED=${SEED:-1}
RUNS=${RUNS:-5}
WORK=${BENCH_DIR:-/tmp/bench}
CHUNK=${CHUNK:-100000}
IMPORT_SIZES=${IMPORT_SIZES:-$SIZES}
MEM_GUARD_GIB=${MEM_GUARD_GIB:-12}
JQ_MAX=${JQ_MAX:-100000}
PARTS=${*:-"import list console sync"}
read -r -a SZ <<<"$SIZES"
BASE=${SZ[0]}
LARGEST=${SZ[-1]}
SYNC_SIZE=${SYNC_SIZE:-$LARGEST}

for tool in python3 jq tmux /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "scale.sh: $tool is missing (apt-get install ${tool##*/})" >&2; exit 2; }
done
mkdir -p "$WORK"
if [[ -z ${BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release --bin sitrep >&2)
    BIN=$ROOT/target/release/sitrep
fi
# Stores are cached by the last commit that changed the code (not HEAD: a docs or script
# commit must not rebuild a 5 GB store); "-dirty" when the code has uncommitted changes.
REV=$(git -C "$ROOT" log -1 --format=%h -- src Cargo.toml Cargo.lock)
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || REV=$REV-dirty
CFG=$WORK/empty.toml
: >"$CFG"
guard="ulimit -v $((MEM_GUARD_GIB * 1024 * 1024))"

log() { echo "scale.sh: $*" >&2; }
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%gM", n/1e6; else if (n >= 1e3) printf "%gk", n/1e3; else print n }'; }

# The Prisma CSPM list body of N alerts (cached: same seed and N, same bytes).
input() {
    local n=$1 f=$WORK/prisma-s$SEED-n$1.json
    if [[ ! -s $f ]]; then
        log "generating $f"
        python3 "$HERE/gen-prisma.py" --seed "$SEED" --count "$n" >"$f.part"
        mv "$f.part" "$f"
    fi
    echo "$f"
}

# A store of N alerts, imported in chunks of CHUNK (the generator writes items K..K+CHUNK, the
# same bytes as that slice of the whole file), so building it needs a chunk's memory, not the
# file's. Cached by seed, N and commit; the benches below only read it.
store() {
    local n=$1 db=$WORK/store-s$SEED-n$1-$REV.db
    if [[ ! -s $db ]]; then
        log "building $db (chunks of $CHUNK)"
        rm -f "$db.part" "$db.part-wal" "$db.part-shm"
        # The next chunk is generated while the current one is imported (two cores).
        local start=0 c k=0 gen=""
        chunk() { python3 "$HERE/gen-prisma.py" --seed "$SEED" --start "$1" --count "$2" >"$3"; }
        c=$((n < CHUNK ? n : CHUNK))
        chunk 0 "$c" "$WORK/chunk-0.json"
        while ((start < n)); do
            local next=$((start + c)) cur=$WORK/chunk-$k.json nc
            if ((next < n)); then
                nc=$((n - next < CHUNK ? n - next : CHUNK))
                chunk "$next" "$nc" "$WORK/chunk-$((k + 1)).json" &
                gen=$!
            fi
            "$BIN" --db "$db.part" --config "$CFG" import --vendor prisma-cspm "$cur" >&2
            rm -f "$cur"
            if [[ -n $gen ]]; then wait "$gen"; gen=""; fi
            start=$next
            c=${nc:-0}
            k=$((k + 1))
        done
        local x
        for x in -wal -shm; do [[ -e $db.part$x ]] && mv "$db.part$x" "$db$x"; done
        mv "$db.part" "$db"
    fi
    echo "$db"
}

# `stores`: build (or find) the store of each size and print its path, for other scripts
# (team-queue.sh) that measure the same data.
part_stores() {
    for n in "${SZ[@]}"; do store "$n"; done
}

header() { printf '\n## %s\n' "$1"; printf '%s\n' "$2"; }

part_list() {
    for n in "${SZ[@]}"; do store "$n" >/dev/null; done
    header "Queue commands: whole-process, median of $RUNS paired runs (A: N alerts, B: $(human "$BASE"))" \
        "$(printf 'what\tN\tA wall ms\tA cpu ms\tA rss MiB\tB wall ms\tB cpu ms\tB rss MiB\twall A/B\tcpu A/B\texit')"
    local b n db
    b=$(store "$BASE")
    local -a ops=(
        "page, table (with count)|list --limit 50"
        "page, json (no count)|list --limit 50 --format json"
        "sev:critical|list --limit 50 --filter sev:critical"
        "text host|list --limit 50 --filter host"
        "vendor:prisma-cspm|list --limit 50 --filter vendor:prisma-cspm"
        "tag:env=prod|list --limit 50 --filter tag:env=prod"
        "account:000000008000|list --limit 50 --filter account:000000008000"
        "sort recent|list --limit 50 --sort recent"
    )
    for n in "${SZ[@]:1}"; do
        db=$(store "$n")
        for op in "${ops[@]}"; do
            local name=${op%%|*} args=${op#*|}
            # shellcheck disable=SC2086 # args is a word list on purpose
            python3 "$HERE/runs.py" --runs "$RUNS" --label "$name	$(human "$n")" \
                --vs "$BIN --db $b --config $CFG $args" -- "$BIN" --db "$db" --config "$CFG" $args
        done
    done
}

part_console() {
    local n db
    for n in "${SZ[@]}"; do
        db=$(store "$n")
        header "Console keys at $(human "$n") (tmux, 200x50; CPU of the whole process; median of 3)" \
            "$(printf 'step\tcpu ms\tsettle ms\tmin/max cpu ms')"
        python3 "$HERE/console-keys.py" --bin "$BIN" --db "$db" --config "$CFG" --runs 3 \
            --step 'G' --step 'g' --step 'j' --step 'C-f' \
            --step '/ sev:high Enter' --step 'C-l' --step '/ host Enter' --step 'C-l' \
            --step '/ tag:env=prod Enter' --step 'C-l' --step '/ account:000000008000 Enter' \
            --step 'C-l' --step 'o' --step 'o' --step 'o' --step 'o' --step 'o' \
            --step '? => Keys — j/k' --step 'Escape => !Keys — j/k'
    done
}

part_import() {
    header "Import of the whole file vs jq -c '.items[]' on it (A: sitrep import into a fresh store, B: jq)" \
        "$(printf 'what\tN\tA wall ms\tA cpu ms\tA rss MiB\tB wall ms\tB cpu ms\tB rss MiB\twall A/B\tcpu A/B\texit')"
    local n f runs db
    for n in $IMPORT_SIZES; do
        f=$(input "$n")
        runs=${IMPORT_RUNS:-$((n > 100000 ? 1 : 3))}
        db=$WORK/import-$n.db
        # A fresh store each run (the rm is in the timed shell: microseconds). The guard makes
        # an import that outgrows memory fail by itself instead of pushing the machine to swap.
        # jq holds the whole document (about 5x the file): above JQ_MAX it is not run, and the
        # yardstick is jq at JQ_MAX scaled linearly (see docs/performance.md).
        local a=(sh -c "rm -f $db $db-wal $db-shm; $guard; exec $BIN --db $db --config $CFG import --vendor prisma-cspm $f")
        local label="import ($(du -h "$f" | cut -f1))	$(human "$n")"
        if ((n <= JQ_MAX)); then
            python3 "$HERE/runs.py" --runs "$runs" --warmup 0 --label "$label" \
                --vs "sh -c '$guard; exec jq -c .items[] $f'" -- "${a[@]}"
        else
            python3 "$HERE/runs.py" --runs "$runs" --warmup 0 --label "$label" -- "${a[@]}"
        fi
        rm -f "$db" "$db-wal" "$db-shm"
        drop_large "$WORK/prisma-s$SEED-n$n.json" "$n"
    done
}

# Inputs and stores above 100k take gigabytes of a shared disk: drop them once used (KEEP=1 keeps).
drop_large() {
    local n=$2
    if [[ -z ${KEEP:-} ]] && ((n > 100000)); then rm -f "$1" "$1-wal" "$1-shm"; fi
}

# A full sync of SYNC_SIZE alerts from `sitrep sim` into a fresh store: wall and peak RSS
# (/usr/bin/time -v), RSS sampled every second (where the memory goes over time), then the
# console opened on a fresh store with the simulator as its source: key latency on the screen
# while its refresher writes.
part_sync() {
    local m
    for m in "${SZ[@]}"; do drop_large "$WORK/store-s$SEED-n$m-$REV.db" "$m"; done
    local n=$SYNC_SIZE simlog=$WORK/sim.log simout=$WORK/sim.json simcfg=$WORK/sim.toml db=$WORK/sync-$SYNC_SIZE.db
    log "starting the simulator with $n alerts"
    "$BIN" --config "$CFG" sim --vendor prisma-cspm --alerts "$n" --seed "$SEED" >"$simout" 2>"$simlog" &
    local sim=$! i
    for i in $(seq 1 600); do
        [[ -s $simout ]] && break
        kill -0 "$sim" 2>/dev/null || break
        sleep 1
    done
    kill -0 "$sim" 2>/dev/null || { echo "scale.sh: the simulator exited: $(cat "$simlog")" >&2; return 1; }
    # The announcement is one JSON line: the [[source]] table and the simulator's credentials
    # (generated per run, local only) as environment variables the table names.
    jq -r .source_toml "$simout" >"$simcfg"
    eval "$(jq -r '.env | to_entries[] | "export \(.key)=\(.value | @sh)"' "$simout")"
    rm -f "$db" "$db-wal" "$db-shm"
    header "Full sync of $(human "$n") alerts from the simulator into a fresh store" \
        "$(printf 'what\tvalue')"
    /usr/bin/time -v -o "$WORK/sync.time" "$BIN" --db "$db" --config "$simcfg" sync --full \
        >"$WORK/sync.out" 2>&1 &
    local tpid=$! rss=$WORK/sync.rss spid="" t0=$SECONDS
    : >"$rss"
    (
        while kill -0 "$tpid" 2>/dev/null; do
            [[ -z $spid ]] && spid=$(pgrep -P "$tpid" || true)
            [[ -n $spid ]] && awk -v t="$((SECONDS - t0))" '/^VmRSS:/ { print t "\t" $2 }' "/proc/$spid/status" 2>/dev/null >>"$rss"
            sleep 1
        done
    ) &
    local sampler=$!
    # Half-way (SYNC_CONSOLE_AFTER s), a console in its own process, no sources, on the store
    # the sync is writing: its CPU per key is its own while the writer commits next to it.
    while kill -0 "$tpid" 2>/dev/null && ((SECONDS - t0 < ${SYNC_CONSOLE_AFTER:-300})); do sleep 1; done
    if kill -0 "$tpid" 2>/dev/null; then
        local during=$WORK/sync-console.txt
        {
            printf 'after %s s, alerts in the store: %s\n' "$((SECONDS - t0))" "$(alert_count "$db")"
            python3 "$HERE/console-keys.py" --bin "$BIN" --db "$db" --config "$CFG" --runs 3 \
                --step 'j' --step 'C-f' --step 'G' --step 'g' --step '/ sev:high Enter' --step 'C-l' \
                --step '? => Keys — j/k' --step 'Escape => !Keys — j/k' || true
        } >"$during" 2>&1
    fi
    wait "$tpid" || log "the sync exited non-zero: $(tail -3 "$WORK/sync.out")"
    wait "$sampler" || true
    printf 'wall\t%s\n' "$(awk -F': ' '/Elapsed \(wall/ { print $2 }' "$WORK/sync.time")"
    printf 'cpu s (user+sys)\t%s\n' "$(awk -F': ' '/User time/ { u=$2 } /System time/ { s=$2 } END { print u+s }' "$WORK/sync.time")"
    printf 'peak RSS MiB\t%s\n' "$(awk -F': ' '/Maximum resident/ { printf "%.0f", $2/1024 }' "$WORK/sync.time")"
    printf 'alerts in the store\t%s\n' "$(alert_count "$db")"
    printf 'RSS every 10 s (s:MiB)\t%s\n' "$(awk 'NR % 10 == 1 { printf "%s:%.0f ", $1, $2/1024 }' "$rss")"
    printf 'sync output\t%s\n' "$(tail -1 "$WORK/sync.out")"
    if [[ -s ${during:-} ]]; then
        header "Console keys (own process, CPU ms) on the store while the sync writes it" \
            "$(printf 'step\tcpu ms\tsettle ms\tmin/max cpu ms')"
        cat "$during"
    fi
    rm -f "$db" "$db-wal" "$db-shm"

    header "Console during its own full sync of $(human "$n") (screen latency, ms; median of 5)" \
        "$(printf 'step\tcpu ms\tlatency ms\tmin/max ms')"
    python3 "$HERE/console-keys.py" --bin "$BIN" --db "$db" --config "$simcfg" --runs 5 --no-idle \
        --wait-for 'Queue' --step '? => Keys — j/k' --step 'Escape => !Keys — j/k' \
        --step 'o => by severity' --step 'o => by recent' --step 'o => by oldest' \
        --step 'o => by vendor' --step 'o => by score' || true
    rm -f "$db" "$db-wal" "$db-shm"
    kill "$sim" 2>/dev/null || true
    wait "$sim" 2>/dev/null || true
}

# Alerts in a store, open and closed: the table's "… 1 of N shown" line.
alert_count() {
    "$BIN" --db "$1" --config "$CFG" list --all --limit 1 | awk '/ of .* shown/ { print $4 }'
}

echo "# sitrep scale benches: $(date -u +%Y-%m-%dT%H:%MZ), commit $REV, $(nproc) cores, seed $SEED, sizes $SIZES"
for p in $PARTS; do
    case $p in
        list | console | import | sync | stores) "part_$p" ;;
        *) echo "scale.sh: unknown part '$p' (list console import sync stores)" >&2; exit 2 ;;
    esac
done
if [[ $PARTS == *console* ]]; then
    for n in "${SZ[@]}"; do drop_large "$WORK/store-s$SEED-n$n-$REV.db" "$n"; done
fi
exit 0
