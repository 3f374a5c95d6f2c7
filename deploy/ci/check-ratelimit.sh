#!/usr/bin/env bash
# Pre-merge check of the rate-limit files in a GitOps tree (deploy/ci/github-actions-check.yml
# runs it on every pull request): finds the ratelimit ConfigMaps, bare ratelimit files and
# EnvoyFilters under the directories given, and runs `trendmaster check` on them, one
# directory at a time (the bare files of one directory are one config directory of the
# ratelimit service: a kustomize configMapGenerator's, say). Nothing is read from a cluster or
# Prometheus, and nothing is written.
#
# Usage: deploy/ci/check-ratelimit.sh [DIR...]   (default: the current directory)
#   TRENDMASTER  the binary [default: trendmaster on PATH, else target/release/trendmaster]
# Which *.yaml and *.yml files are checked:
#   - a line `kind: EnvoyFilter`;
#   - a line `kind: ConfigMap` and an indented `domain:` line (a ConfigMap holding a ratelimit
#     file; other ConfigMaps are left alone);
#   - no `kind:` line, and a line starting `domain:` or `descriptors:` (a bare ratelimit file).
# Every problem is printed as trendmaster prints it (`<file>: <problem> (at <path>)`); with
# GITHUB_ACTIONS=true each also becomes an error annotation on its file.
# Exit codes: 0 every file passes, 3 a problem (or no file found: a wrong path must not pass).
set -uo pipefail

bin=${TRENDMASTER:-}
if [ -z "$bin" ]; then
    if command -v trendmaster >/dev/null 2>&1; then
        bin=trendmaster
    else
        bin="$(cd "$(dirname "$0")/../.." && pwd)/target/release/trendmaster"
    fi
fi
[ $# -eq 0 ] && set -- .

is_candidate() {
    local file=$1
    if grep -qE '^kind:[[:space:]]*EnvoyFilter[[:space:]]*$' "$file"; then
        return 0
    fi
    if grep -qE '^kind:[[:space:]]*ConfigMap[[:space:]]*$' "$file"; then
        grep -qE '^[[:space:]]+domain:' "$file"
        return
    fi
    ! grep -qE '^kind:' "$file" && grep -qE '^(domain|descriptors):' "$file"
}

# Candidate files, grouped by directory (sorted, so the output is stable).
declare -A by_dir=()
found=0
for root in "$@"; do
    if [ ! -e "$root" ]; then
        echo "check-ratelimit.sh: $root: no such file or directory" >&2
        exit 3
    fi
    while IFS= read -r -d '' file; do
        if is_candidate "$file"; then
            dir=$(dirname "$file")
            by_dir[$dir]+="$file"$'\n'
            found=$((found + 1))
        fi
    done < <(find "$root" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
done
if [ "$found" -eq 0 ]; then
    echo "check-ratelimit.sh: no ratelimit ConfigMap, ratelimit file or EnvoyFilter under $*" >&2
    exit 3
fi

status=0
while IFS= read -r dir; do
    mapfile -t files < <(printf '%s' "${by_dir[$dir]}")
    # The verdict goes to stdout as it is; the problems are kept to be annotated as well.
    { errors=$("$bin" check "${files[@]}" 2>&1 1>&3 3>&-); code=$?; } 3>&1
    [ -n "$errors" ] && printf '%s\n' "$errors" >&2
    if [ "${GITHUB_ACTIONS:-}" = true ] && [ -n "$errors" ]; then
        while IFS= read -r line; do
            problem=${line#trendmaster: error: }
            [ "$problem" = "$line" ] && continue
            message=${problem#*: }
            message=${message//%/%25}
            echo "::error file=${problem%%: *},title=trendmaster check::$message"
        done <<<"$errors"
    fi
    if [ "$code" -ne 0 ] && [ "$status" -ne 3 ]; then
        status=$code
    fi
done < <(printf '%s\n' "${!by_dir[@]}" | sort)
exit "$status"
