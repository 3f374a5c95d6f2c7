#!/usr/bin/env bash
# The GitOps nightly job (deploy/ci/github-actions-gitops.yml runs it; so can any cron): write
# the files for the cluster under fixed names into a kustomize directory of a checked-out
# configuration repository (trendmaster --gitops-dir), and when they changed, commit them on a
# new branch and write the pull request's branch name, title and body into files. It never
# pushes and calls no API: pushing the branch and opening the pull request are the CI
# workflow's own steps, so this script runs (and is tested) without a network.
#
# Usage: scripts/gitops-pr.sh REPO_DIR SUBDIR [trendmaster flags...]
#   REPO_DIR     the configuration repository's checkout (a git work tree, on the branch the
#                pull request is for; user.name and user.email configured for the commit)
#   SUBDIR       the kustomize directory in it, relative, e.g. clusters/production/ratelimit;
#                give --current-from REPO_DIR/SUBDIR/ratelimit-configmap.yaml (or --cluster)
#                among the flags, so that limits are governed against what is deployed
#   TRENDMASTER  the binary [default: trendmaster on PATH, else target/release/trendmaster]
#   OUT          trendmaster's output directory (reports, gitops-result.json, gitops.log) and
#                where the pull request's files go [default: output]:
#                  pr-branch.txt  trendmaster/<environment>-<window end date>
#                  pr-title.txt   one line
#                  pr-body.md     counts by change status, then the entries that change or wait
#                None of them is left in OUT when nothing changed.
# Exit codes: 0 committed, or nothing changed; trendmaster's own when it fails (1 failure,
# 3 bad configuration or flags, 4 source or cluster unreachable); 3 for bad arguments; 1 when
# git fails (the pull request files are removed then).
set -uo pipefail

usage="usage: gitops-pr.sh REPO_DIR SUBDIR [trendmaster flags...]"
if [ $# -lt 2 ]; then
    echo "$usage" >&2
    exit 3
fi
repo=$1
subdir=${2%/}
shift 2
case $subdir in
'' | /* | .. | ../* | */../* | */..)
    echo "gitops-pr.sh: SUBDIR '$subdir' must be a relative path inside REPO_DIR; $usage" >&2
    exit 3
    ;;
esac
if ! git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "gitops-pr.sh: REPO_DIR '$repo' is not a git work tree" >&2
    exit 3
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "gitops-pr.sh: python3 is needed to read trendmaster's JSON result" >&2
    exit 1
fi

bin=${TRENDMASTER:-}
if [ -z "$bin" ]; then
    if command -v trendmaster >/dev/null 2>&1; then
        bin=trendmaster
    else
        bin="$(cd "$(dirname "$0")/.." && pwd)/target/release/trendmaster"
    fi
fi
out=${OUT:-output}
mkdir -p "$out"
branch_file="$out/pr-branch.txt"
title_file="$out/pr-title.txt"
body_file="$out/pr-body.md"
# A previous run's files must not open a pull request for this one.
rm -f "$branch_file" "$title_file" "$body_file"
result="$out/gitops-result.json"
log="$out/gitops.log"

"$bin" --output-dir "$out" --gitops-dir "$repo/$subdir" --output-format json "$@" \
    >"$result" 2>"$log"
code=$?
cat "$log" >&2
# 2: --detailed-exitcode among the flags, changes present; the files were written all the same.
if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
    echo "gitops-pr.sh: trendmaster failed with exit code $code: $(tail -n 1 "$log")" >&2
    exit "$code"
fi

# What the run changed in the repository: only SUBDIR, whatever else the checkout holds.
changed=$(git -C "$repo" status --porcelain -- "$subdir")
held=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["changes"]["held"])' "$result")
if [ -z "$changed" ]; then
    echo "trendmaster: no change in $repo/$subdir ($held held for approval); no pull request"
    exit 0
fi

# The branch, title and body from the JSON result.
if ! python3 - "$result" "$subdir" "$branch_file" "$title_file" "$body_file" <<'PY'
import json
import sys

result_path, subdir, branch_path, title_path, body_path = sys.argv[1:]
with open(result_path) as f:
    result = json.load(f)
environment = result["environment"]["name"]
window = result["window"]
end_date = window["end"][:10]
changes = result["changes"]
plan = changes["plan"]

counts = {}
for entry in plan:
    counts[entry["status"]] = counts.get(entry["status"], 0) + 1
ORDER = ["new", "changed", "approved", "stepped", "held", "censored", "kept", "unchanged"]
statuses = sorted(counts, key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))

# What a reviewer looks at: what the files change, and what waits for approval.
def shown(entry):
    return entry["status"] in ("new", "changed", "approved", "stepped", "held") or (
        entry["emitted"] != entry["current"]
    )

rows = [entry for entry in plan if shown(entry)]
headline = ", ".join(
    f"{counts[s]} {s}" for s in ("changed", "new", "approved", "stepped", "held") if s in counts
)
title = f"trendmaster: {environment} rate limits to {end_date}"
if headline:
    title += f" ({headline})"

def number(value):
    return "—" if value is None else f"{value:,}"

def cell(text):
    return str(text).replace("|", "\\|")

lines = [
    f"Rate limits for **{cell(environment)}** from `trendmaster --gitops-dir` into `{cell(subdir)}`:",
    f"traffic from {window['start']} to {window['end']} ({cell(result['source'])}), "
    f"trendmaster {result['tool_version']}.",
    "",
]
deployed_from = changes.get("deployed_from")
if deployed_from:
    lines.append(f"Compared with the deployed configuration read from `{cell(deployed_from)}`.")
else:
    lines.append("No deployed configuration was read: every entry is new.")
lines += ["", "| Status | Entries |", "|---|---:|"]
lines += [f"| {s} | {counts[s]} |" for s in statuses]
lines += [f"| **total** | {len(plan)} |", ""]

MAX_ROWS = 300
if rows:
    lines += [
        "## Entries that change or wait for approval",
        "",
        "| Partner | API | Status | Deployed → emitted | Recommended |",
        "|---|---|---|---|---:|",
    ]
    for entry in rows[:MAX_ROWS]:
        key = entry["key"]
        lines.append(
            f"| {cell(key['partner'])} | `{cell(key['api'])}` | {entry['status']} | "
            f"{number(entry['current'])} → {number(entry['emitted'])} | "
            f"{number(entry['recommended'])} |"
        )
    if len(rows) > MAX_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_ROWS} more: see the run's report.")
    lines.append("")
if changes["held"]:
    lines += [
        f"{changes['held']} held for approval: the files keep their deployed value (or the "
        "highest legitimate minute) until a run with `--approve PARTNER:API` releases them.",
        "",
    ]
if changes.get("censored"):
    lines += [
        f"{changes['censored']} censored: traffic sat at the deployed limit or requests were "
        "rejected, so observed traffic understates demand; not cut.",
        "",
    ]
gitops = result.get("gitops") or {}
if gitops:
    lines.append("Files written: " + ", ".join(f"`{name}`" for name in gitops["written"]) + ".")
    if gitops.get("removed"):
        lines.append("Removed: " + ", ".join(f"`{name}`" for name in gitops["removed"]) + ".")
    lines.append("")
lines.append("The full report (derivations, charts) is in the run's output: analysis_report_*.md.")

with open(branch_path, "w") as f:
    f.write(f"trendmaster/{environment}-{end_date}\n")
with open(title_path, "w") as f:
    f.write(title + "\n")
with open(body_path, "w") as f:
    f.write("\n".join(lines) + "\n")
PY
then
    rm -f "$branch_file" "$title_file" "$body_file"
    echo "gitops-pr.sh: cannot read trendmaster's result $result" >&2
    exit 1
fi

branch=$(cat "$branch_file")
title=$(cat "$title_file")
if ! {
    git -C "$repo" switch -q -c "$branch" &&
        git -C "$repo" add -- "$subdir" &&
        git -C "$repo" commit -q -m "$title" -m "Written by scripts/gitops-pr.sh (trendmaster --gitops-dir)." -- "$subdir"
}; then
    rm -f "$branch_file" "$title_file" "$body_file"
    echo "gitops-pr.sh: git failed in $repo (does branch $branch exist already?); nothing to push" >&2
    exit 1
fi
echo "trendmaster: committed $subdir on branch $branch in $repo; pull request files in $out"
