#!/usr/bin/env bash
# A real rsyslog for tests/siem.rs (syslog RFC 5424 over TLS, TCP and UDP). The test starts
# its own private rsyslogd (its own config, ports and files in a temp dir); this script only
# makes sure the Debian packages are there.
#
#   scripts/rsyslog.sh install   apt-get install rsyslog and rsyslog-gnutls (the gtls stream
#                                driver) when rsyslogd or the driver is missing; a no-op else
#   scripts/rsyslog.sh path      install if needed, print rsyslogd's path
#
# The system's own rsyslog service is neither started nor configured.
set -euo pipefail

log() { echo "rsyslog: $*" >&2; }

have() {
    command -v rsyslogd >/dev/null 2>&1 || [[ -x /usr/sbin/rsyslogd ]] || return 1
    # The gtls network stream driver ships in rsyslog-gnutls.
    compgen -G "/usr/lib/*/rsyslog/lmnsd_gtls.so" >/dev/null || compgen -G "/usr/lib/rsyslog/lmnsd_gtls.so" >/dev/null
}

install() {
    if have; then
        return 0
    fi
    local sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo_cmd=(sudo) || {
            log "need root or sudo to install rsyslog and rsyslog-gnutls"
            exit 1
        }
    fi
    log "installing rsyslog and rsyslog-gnutls (apt)"
    # Do not start the system service from the package's postinst where policy-rc.d is honoured.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q rsyslog rsyslog-gnutls >/dev/null 2>&1 || {
        "${sudo_cmd[@]}" apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q rsyslog rsyslog-gnutls >/dev/null
    }
    have || { log "rsyslogd or its gtls driver is still missing after the install"; exit 1; }
    log "installed"
}

path() {
    command -v rsyslogd 2>/dev/null || echo /usr/sbin/rsyslogd
}

case "${1:-install}" in
    install) install ;;
    path) install && path ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
