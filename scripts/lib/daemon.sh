# shellcheck shell=bash
# Helpers shared by scripts/prometheus and scripts/alertmanager (sourced, not run).
#
#   apt_install BINARY PACKAGE     apt-get install PACKAGE unless BINARY is on PATH
#   daemon_start NAME DIR CMD...   run CMD in the background; pid in DIR/NAME.pid, log in DIR/NAME.log
#   daemon_pid NAME DIR            print the pid if it is running (else return 1)
#   wait_ready NAME DIR URL SECS   poll URL until HTTP 200; on failure show the log and stop
#   daemon_stop NAME DIR           SIGTERM, wait up to 20 s, SIGKILL fallback
#
# Callers use `set -euo pipefail` and define die().

apt_install() {
    local binary="$1" package="$2"
    command -v "$binary" >/dev/null && return 0
    # `apt-get update` only when the package lists do not know the package yet.
    if ! apt-cache show "$package" >/dev/null 2>&1; then
        apt-get update -q >/dev/null
    fi
    # Keep the package's init script from starting a system-wide daemon during install
    # (policy-rc.d exit 101 = "action not allowed"), unless the machine already has one.
    local policy=/usr/sbin/policy-rc.d created=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
    fi
    local rc=0 log
    log="$(mktemp)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" \
        > "$log" 2>&1 || rc=$?
    if [[ -n "$created" ]]; then rm -f "$policy"; fi
    if ((rc != 0)); then
        tail -n 20 "$log" >&2
        die "apt-get install $package failed (exit $rc)"
    fi
    rm -f "$log"
    command -v "$binary" >/dev/null || die "$package installed but $binary is not on PATH"
}

daemon_pid() {
    local name="$1" dir="$2" pid
    [[ -f "$dir/$name.pid" ]] || return 1
    pid="$(cat "$dir/$name.pid")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    # A stale pid file may point at an unrelated process by now.
    grep -qa "$name" "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

daemon_start() {
    local name="$1" dir="$2"
    shift 2
    nohup "$@" >> "$dir/$name.log" 2>&1 < /dev/null &
    echo $! > "$dir/$name.pid"
}

# HTTP status code of a GET to a loopback URL, using curl if present, else python.
http_status() {
    if command -v curl >/dev/null; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
    else
        "${PYTHON:-python3}" - "$1" 2>/dev/null <<'EOF' || true
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print("000")
EOF
    fi
}

wait_ready() {
    local name="$1" dir="$2" url="$3" secs="$4" pid
    pid="$(cat "$dir/$name.pid")"
    local deadline=$((SECONDS + secs))
    until [[ "$(http_status "$url")" == 200 ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$dir/$name.log" >&2
            rm -f "$dir/$name.pid"
            die "exited during startup (log: $dir/$name.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$dir/$name.log" >&2
            daemon_stop "$name" "$dir" >&2 || true
            die "not ready at $url after ${secs}s (log: $dir/$name.log)"
        fi
        sleep 0.2
    done
}

daemon_stop() {
    local name="$1" dir="$2" pid
    if ! pid="$(daemon_pid "$name" "$dir")"; then
        rm -f "$dir/$name.pid"
        echo "$name: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$name: pid $pid ignored SIGTERM, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
    echo "$name: stopped (pid $pid)"
}
