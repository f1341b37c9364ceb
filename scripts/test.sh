#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a fresh Debian/Ubuntu
# machine, then runs the whole suite. Extra arguments go to `cargo test`.
#
# Needs: tmux (the console's end-to-end test drives `sitrep demo` in a real terminal) and the
# real local model for tests/llm_real.rs (scripts/llm-server.sh: built once into the user's
# cache directory, about 10 minutes on 2 cores the first time, then reused), and the vendors'
# Python SDKs that tests/peer_sdk.rs drives against the simulators (scripts/peer-sdks.sh: a
# cached venv from PyPI), a real rsyslog for tests/siem.rs (scripts/rsyslog.sh: Debian packages)
# and Python's jsonschema for the SARIF schema check in tests/sarif.rs (scripts/jsonschema.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
if ((${#need_apt[@]})); then
    echo "== installing ${need_apt[*]} (apt)"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo_cmd=(sudo) || {
            echo "scripts/test.sh: need root or sudo to install: ${need_apt[*]}" >&2
            exit 1
        }
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${need_apt[@]}" >/dev/null 2>&1 || {
        "${sudo_cmd[@]}" apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${need_apt[@]}" >/dev/null
    }
fi

echo "== vendor SDKs (scripts/peer-sdks.sh install)"
scripts/peer-sdks.sh install

echo "== rsyslog for tests/siem.rs (scripts/rsyslog.sh install: apt, rsyslog + rsyslog-gnutls)"
scripts/rsyslog.sh install

echo "== jsonschema for tests/sarif.rs (scripts/jsonschema.sh install: a cached venv)"
scripts/jsonschema.sh install

echo "== local model (scripts/llm-server.sh start)"
trap 'scripts/llm-server.sh stop >/dev/null 2>&1 || true' EXIT
SITREP_TEST_LLM_URL="$(scripts/llm-server.sh start)"
export SITREP_TEST_LLM_URL
# The real model answers one request at a time on 2 cores (tens of seconds each): the suite
# runs the first few Ask questions and guardrail cases; set these higher for a full report
# (docs/ai.md has the figures of full runs).
export SITREP_TEST_ASK_LIMIT="${SITREP_TEST_ASK_LIMIT:-5}"
export SITREP_LLM_GUARD_N="${SITREP_LLM_GUARD_N:-8}"
echo "model server at $SITREP_TEST_LLM_URL"

echo "== cargo test"
cargo test --locked "$@"
