#!/usr/bin/env bash
# The vendors' own Python SDKs, for tests/peer_sdk.rs (clients nobody on this project wrote,
# run against `sitrep sim`).
#
#   scripts/peer-sdks.sh install   build the venv with pinned prismacloud-api (Prisma Cloud
#                                  CSPM and Compute), laceworksdk and hvac (HashiCorp Vault,
#                                  for tests/vault.rs) in the user's cache dir; a no-op when
#                                  it is already there
#   scripts/peer-sdks.sh python    install if needed, print the venv's python path
#
# The venv lives in ${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/peers; tests/peer_sdk.rs finds
# it there (or at $SITREP_PEERS_PYTHON).
set -euo pipefail

PRISMACLOUD_API_VERSION="${PRISMACLOUD_API_VERSION:-5.3.0}"
LACEWORKSDK_VERSION="${LACEWORKSDK_VERSION:-4.1.0}"
# prismacloud-api 5.3.0 imports these without declaring them (its METADATA has no Requires-Dist).
REQUESTS_VERSION="${REQUESTS_VERSION:-2.32.3}"
UPDATE_CHECKER_VERSION="${UPDATE_CHECKER_VERSION:-0.18.0}"
HVAC_VERSION="${HVAC_VERSION:-2.4.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sitrep-test/peers"
VENV="$CACHE/venv"
STAMP="$CACHE/installed-$PRISMACLOUD_API_VERSION-$LACEWORKSDK_VERSION-$REQUESTS_VERSION-$UPDATE_CHECKER_VERSION-hvac$HVAC_VERSION"

log() { echo "peer-sdks: $*" >&2; }

install() {
    if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
        log "using the cached environment in $VENV"
        return 0
    fi
    mkdir -p "$CACHE"
    log "installing prismacloud-api $PRISMACLOUD_API_VERSION, laceworksdk $LACEWORKSDK_VERSION and hvac $HVAC_VERSION in $VENV"
    rm -rf "$VENV" "$CACHE"/installed-*
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet \
        "prismacloud-api==$PRISMACLOUD_API_VERSION" \
        "laceworksdk==$LACEWORKSDK_VERSION" \
        "requests==$REQUESTS_VERSION" "update-checker==$UPDATE_CHECKER_VERSION" \
        "hvac==$HVAC_VERSION"
    "$VENV/bin/python" -c 'import prismacloud.api, laceworksdk, hvac' >/dev/null
    touch "$STAMP"
    log "installed"
}

case "${1:-install}" in
    install) install ;;
    python) install && echo "$VENV/bin/python" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
