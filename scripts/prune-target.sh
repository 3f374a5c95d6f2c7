#!/usr/bin/env bash
# Deletes the test and binary executables in the target directory that a newer build of the
# same name has superseded. Cargo never removes them, and with a target directory reused across
# CI runs (.ci/run) they pile up: on 2026-12-02 debug/deps held 63 GB, 37.5 GB of it superseded
# executables, and a build failed with "No space left on device". Of each executable's name the
# newest stays, so the next build still finds everything it reuses.
set -euo pipefail

target="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}"
deps="$target/debug/deps"
[ -d "$deps" ] || exit 0

before=$(du -sm "$deps" | cut -f1)
# Executables have no extension: `golden-2cace1b419f9646f`. Oldest first, so that for each name
# (the part before the last `-`) every file but the last seen is superseded.
find "$deps" -maxdepth 1 -type f -perm -u+x -name '*-*' ! -name '*.*' -printf '%T@ %f\n' |
    sort -n |
    awk '{ key = $2; sub(/-[^-]*$/, "", key); if (key in last) print last[key]; last[key] = $2 }' |
    while read -r name; do rm -f -- "$deps/$name"; done
# Our own libraries pile up too: every edit of a workspace crate leaves its old .rlib/.rmeta
# behind (on 2026-12-02, 71 versions of libtrendmaster_types; the disk filled twice in one
# session). Of each name the three newest stay: the dev, test, fuzz and prophet builds may each
# need their own. Third-party libraries are left alone: they do not change, and removing one
# that the prophet build uses costs a 15-minute wasmtime rebuild.
find "$deps" -maxdepth 1 -type f \( -name 'libtrendmaster_*.rlib' -o -name 'libtrendmaster_*.rmeta' \) -printf '%T@ %f\n' |
    sort -rn |
    awk '{ key = $2; sub(/-[0-9a-f]*\.r(lib|meta)$/, "", key); ext = $2; sub(/.*\./, "", ext);
           seen[key "." ext]++; if (seen[key "." ext] > 3) print $2 }' |
    while read -r name; do rm -f -- "$deps/$name"; done
after=$(du -sm "$deps" | cut -f1)
echo "prune-target: $((before - after)) MB of superseded executables and libraries removed from $deps" >&2
