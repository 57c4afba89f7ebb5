#!/usr/bin/env bash
# stage-times.sh LOG STAGE=SECONDS...: the table `just test` ends with: how
# long each stage took, then each test of a second or more and each package
# of five seconds or more (from the `go test -v` output in LOG, slowest
# first). CI reads it to keep the run inside its time budget.
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
# "--- PASS: TestX (12.34s)" at the start of a line is a top-level test,
# "    --- PASS: TestX/sub (...)" one of its subtests. A test whose subtests
# run in parallel reports only its own body's time: it took as long as its
# slowest subtest.
awk '
	function secs(s) { gsub(/[()s]/, "", s); return s + 0 }
	/^--- (PASS|FAIL|SKIP): Test/ { name = $3; st[name] = $2; t[name] = secs($4); order[++n] = name; next }
	/^    --- (PASS|FAIL|SKIP): Test/ { split($3, p, "/"); s = secs($4); if (s > sub_max[p[1]]) sub_max[p[1]] = s; next }
	/^(ok|FAIL)[ \t]+github.com\// && NF >= 3 {
		v = $3; sub(/s$/, "", v); pkg = $2; sub(/^github.com\/esb-dev\/esb\//, "", pkg)
		if (v + 0 >= 5) printf "%8.0f  %-34s %s\n", v, "package " pkg, $1
	}
	END {
		for (i = 1; i <= n; i++) {
			name = order[i]; v = t[name]; if (sub_max[name] > v) v = sub_max[name]
			sub(/:$/, "", st[name])
			if (v >= 1) printf "%8.0f  %-34s %s\n", v, name, st[name]
		}
	}' "$log" | sort -k1,1nr | awk '{ s = $1; $1 = ""; printf "  %-42s %8d\n", substr($0, 2), s }' >&2
# The failures last, where a reader of the log's tail sees them: each
# failing test and subtest, then testify's "Error:" lines with the test
# each belongs to (parallel tests interleave their output, but testify
# prints a failure as one block), and any panic or timeout. Capped, so
# one test failing in a loop cannot bury the table above.
awk '
	/^ *--- FAIL: / { sub(/^ +/, ""); fails[++nf] = $0; next }
	/^panic: |^\*\*\* Test killed|test timed out after/ { other[++no] = $0; next }
	/^[ \t]+Error Trace:/ { inblock = 1; err = ""; next }
	inblock && /^[ \t]+Error:/ { line = $0; sub(/^[ \t]+Error:[ \t]+/, "", line); err = line; grab = 3; next }
	inblock && /^[ \t]+Test:/ { line = $0; sub(/^[ \t]+Test:[ \t]+/, "", line); errs[++ne] = line ": " err; inblock = 0; grab = 0; msg = 1; next }
	msg && /^[ \t]+Messages:/ { line = $0; sub(/^[ \t]+Messages:[ \t]+/, "", line); errs[ne] = errs[ne] " (" line ")"; msg = 0; next }
	{ msg = 0 }
	inblock && grab > 0 { line = $0; sub(/^[ \t]+/, "", line); err = err " | " line; grab--; next }
	END {
		if (nf + no == 0) exit
		printf "\nfailures\n"
		for (i = 1; i <= nf && i <= 40; i++) printf "  %s\n", fails[i]
		for (i = 1; i <= no && i <= 5; i++) printf "  %s\n", other[i]
		for (i = 1; i <= ne && i <= 20; i++) printf "  %s\n", substr(errs[i], 1, 400)
	}' "$log" >&2
