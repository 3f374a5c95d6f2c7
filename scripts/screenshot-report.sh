#!/usr/bin/env bash
# Renders an HTML report in headless Chromium, offline, and saves a screenshot.
#
# Usage: scripts/screenshot-report.sh REPORT.html SCREENSHOT.png [NETLOG.json]
#
# Chromium runs with its background services off, every host name resolving to nothing and a
# dead proxy, so the page renders from the file alone; NETLOG (Chromium's --log-net-log) records
# every request it tried, for a test to check that none left the machine.
# Needs `chromium` on PATH (scripts/install-test-deps.sh installs Debian's).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html SCREENSHOT.png [NETLOG.json]" >&2
    exit 3
fi
html=$(realpath "$1")
png=$2
netlog=${3:-}
[ -f "$html" ] || { echo "screenshot-report: $1: no such file" >&2; exit 3; }
command -v chromium >/dev/null 2>&1 ||
    { echo "screenshot-report: chromium is not on PATH (run scripts/install-test-deps.sh)" >&2; exit 4; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
args=(
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-default-apps --disable-extensions --no-default-browser-check
    --host-resolver-rules="MAP * ~NOTFOUND"
    --proxy-server="http://127.0.0.1:9"
    --user-data-dir="$profile"
    --window-size=1300,2400
    --hide-scrollbars
    --screenshot="$(realpath -m "$png")"
)
if [ -n "$netlog" ]; then
    args+=(--log-net-log="$(realpath -m "$netlog")" --net-log-capture-mode=Default)
fi
chromium "${args[@]}" "file://$html" >/dev/null 2>&1
[ -s "$png" ] || { echo "screenshot-report: chromium wrote no screenshot" >&2; exit 1; }
echo "$png"
