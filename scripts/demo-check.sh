#!/usr/bin/env bash
# demo-check.sh GATEWAY_URL shows the example answering after `just demo`:
# B's /hello won over A's (later deploy wins), A's items route still works
# (nothing was deleted), and its DynamoDB table really stores data.
set -euo pipefail
gw=$1
show() { printf '\n$ curl %s\n' "$*"; curl -sS --fail-with-body "$@"; echo; }

# The gateway hot-reloads; give it up to 30 s to serve B's route.
for _ in $(seq 1 30); do
	[ "$(curl -s "$gw/hello")" = '{"version": "B"}' ] && break
	sleep 1
done
show "$gw/hello"
show -X PUT "$gw/items/demo" -H 'Content-Type: application/json' -d '{"name": "widget"}'
show "$gw/items/demo"
show "$gw/health"
