#!/usr/bin/env bash
# Python's `jsonschema` (the reference JSON Schema validator) for tests/sarif.rs, which
# checks `sitrep export --format sarif` against the official SARIF 2.1.0 schema
# (tests/fixtures/sarif/sarif-schema-2.1.0.json).
#
#   scripts/jsonschema.sh install   build the venv with pinned jsonschema in the user's cache
#                                   dir; a no-op when it is already there
#   scripts/jsonschema.sh python    install if needed, print the venv's python path
#
# The venv lives in ${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/jsonschema; tests/sarif.rs
# finds it there (or at $SITREP_JSONSCHEMA_PYTHON).
set -euo pipefail

JSONSCHEMA_VERSION="${JSONSCHEMA_VERSION:-4.26.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/jsonschema"
VENV="$CACHE/venv"
STAMP="$CACHE/installed-$JSONSCHEMA_VERSION"

log() { echo "jsonschema: $*" >&2; }

install() {
    if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
        return 0
    fi
    mkdir -p "$CACHE"
    log "installing jsonschema $JSONSCHEMA_VERSION in $VENV"
    rm -rf "$VENV" "$CACHE"/installed-*
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "jsonschema==$JSONSCHEMA_VERSION"
    "$VENV/bin/python" -c 'import jsonschema' >/dev/null
    touch "$STAMP"
    log "installed"
}

case "${1:-install}" in
    install) install ;;
    python) install && echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
