#!/usr/bin/env bash
# Installs what the test suite needs besides Rust: a real Prometheus server and promtool, which
# the trendmaster-testkit crate runs on 127.0.0.1 with backfilled history, and Chromium, which
# renders the HTML report headless (offline) for a screenshot. Idempotent: installs only what
# is missing from PATH. Debian or Ubuntu only (apt-get).
set -euo pipefail

report_versions() {
    prometheus --version 2>&1 | head -n 1
    promtool --version 2>&1 | head -n 1
    # Debian's wrapper script may print shell noise on stderr before the version.
    chromium --version 2>/dev/null | head -n 1
}

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
{ have prometheus && have promtool; } || missing+=(prometheus)
have chromium || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    report_versions
    exit 0
fi

fail() {
    echo "install-test-deps: $*" >&2
    exit 1
}

have apt-get ||
    fail "missing: ${missing[*]}, and apt-get is not available; install Prometheus 2.x (prometheus, promtool) and Chromium so that they are on PATH"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "not root and sudo is missing; run this script as root"
    SUDO=(sudo)
fi

# The package's postinst would start a prometheus service scraping :9090. Tests start their own
# server, so forbid service starts for the duration of the install (exit 101 = "action
# forbidden", see invoke-rc.d(8)); an existing policy is restored afterwards.
POLICY=/usr/sbin/policy-rc.d
BACKUP=""
if [ -e "$POLICY" ]; then
    BACKUP="$(mktemp)"
    "${SUDO[@]}" cp -p "$POLICY" "$BACKUP"
fi
restore_policy() {
    if [ -n "$BACKUP" ]; then
        "${SUDO[@]}" mv -f "$BACKUP" "$POLICY"
    else
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
"${SUDO[@]}" chmod 755 "$POLICY"

echo "install-test-deps: installing Debian's ${missing[*]}" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    fail "apt-get update failed"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" ||
    fail "apt-get install ${missing[*]} failed"

{ have prometheus && have promtool && have chromium; } ||
    fail "installed ${missing[*]}, but prometheus, promtool or chromium is still not on PATH"
report_versions
