#!/usr/bin/env bash
# The nightly job (deploy/ci/github-actions-nightly.yml runs it; so can any cron): analyse,
# compare with what is deployed, keep everything in the output directory, and turn
# "changes present or held for approval" (trendmaster's exit code 2) into a visible result.
#
# Usage: scripts/nightly.sh [trendmaster flags...]
#   TRENDMASTER  the binary [default: trendmaster on PATH, else target/release/trendmaster]
#   OUTPUT_DIR   ConfigMaps, reports and nightly.log go here [default: output]
#   ON_CHANGES   what exit code 2 becomes:
#                  fail   (default) exit 2, with a GitHub error annotation;
#                  review exit 0 and write OUTPUT_DIR/REVIEW.md for a pull-request or issue step;
#                  ignore exit 0.
# With GITHUB_STEP_SUMMARY set, the run's Markdown report is appended to the job summary.
# Exit codes: trendmaster's own (0 none, 1 failure, 3 bad configuration or flags, 4 source or
# cluster unreachable), and 2 for changes when ON_CHANGES=fail.
set -uo pipefail

mode=${ON_CHANGES:-fail}
case $mode in
fail | review | ignore) ;;
*)
    echo "nightly.sh: ON_CHANGES=$mode: expected fail, review or ignore" >&2
    exit 3
    ;;
esac

bin=${TRENDMASTER:-}
if [ -z "$bin" ]; then
    if command -v trendmaster >/dev/null 2>&1; then
        bin=trendmaster
    else
        bin="$(cd "$(dirname "$0")/.." && pwd)/target/release/trendmaster"
    fi
fi
out=${OUTPUT_DIR:-output}
mkdir -p "$out"
log="$out/nightly.log"

"$bin" --output-dir "$out" --detailed-exitcode "$@" >"$out/nightly-result.txt" 2>"$log"
code=$?
cat "$log" >&2

report=$(ls -1t "$out"/analysis_report_*.md 2>/dev/null | head -n 1)
case $code in
0)
    echo "trendmaster: no change against the deployed configuration"
    exit 0
    ;;
2)
    # The change table on stderr ends each held entry's line with its status.
    held=$(grep -c ' held$' "$log")
    message="limits differ from the deployed configuration, $held held for approval; report: ${report:-none}"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -n "$report" ]; then
        cat "$report" >>"$GITHUB_STEP_SUMMARY"
    fi
    case $mode in
    fail)
        echo "::error title=trendmaster::$message"
        exit 2
        ;;
    review)
        {
            echo "# trendmaster: review needed"
            echo
            echo "$message"
            echo
            [ -n "$report" ] && cat "$report"
        } >"$out/REVIEW.md"
        echo "::warning title=trendmaster::$message"
        exit 0
        ;;
    ignore)
        echo "trendmaster: $message"
        exit 0
        ;;
    esac
    ;;
*)
    echo "::error title=trendmaster::trendmaster failed with exit code $code: $(tail -n 1 "$log")"
    exit "$code"
    ;;
esac
