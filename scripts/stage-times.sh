#!/usr/bin/env bash
# stage-times.sh LOG STAGE=SECONDS...: the table `just test` ends with: how
# long each stage took, then each end-to-end test (top-level tests of the
# `go test -v` output in LOG, slowest first) and each e2e package. CI reads
# it to keep the run inside its time budget.
set -euo pipefail
log=$1
shift
total=0
printf '\n%-44s %8s\n' "stage" "seconds" >&2
for kv in "$@"; do
	printf '%-44s %8d\n' "${kv%%=*}" "${kv#*=}" >&2
	total=$((total + ${kv#*=}))
done
printf '%-44s %8d\n' "total (setup not included)" "$total" >&2
# "--- PASS: TestX (12.34s)" at the start of a line is a top-level test;
# subtests are indented.
awk '/^--- (PASS|FAIL|SKIP): Test/ { gsub(/[()s]/, "", $4); sub(/:$/, "", $2); printf "%8.0f  %-34s %s\n", $4, $3, $2 }
     /^(ok|FAIL)[ \t]+github.com\// && NF >= 3 { t = $3; sub(/s$/, "", t); p = $2; sub(/^github.com\/esb-dev\/esb\//, "", p); printf "%8.0f  %-34s %s\n", t, "package " p, $1 }' "$log" |
	sort -k1,1nr | awk '{ s = $1; $1 = ""; printf "  %-42s %8d\n", substr($0, 2), s }' >&2
