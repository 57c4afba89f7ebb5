#!/bin/bash
# esb-e2e RUN: the e2e function's step. It plays the CI machine: a Docker
# engine of its own (data in $ESB_DOCKER_ROOT, a cache volume), the images
# scripts/setup.sh would build (tarballs listed in /images/list as
# "FILE REF"), then go test -tags e2e -run RUN in /src/e2e.
set -euo pipefail
run=$1
root=${ESB_DOCKER_ROOT:?}
mkdir -p "$root/docker" "$root/loaded"

dockerd --data-root "$root/docker" >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
# The engine's data must be consistent for the next run: stop it cleanly.
stop() {
	kill "$dockerd_pid" 2>/dev/null || return 0
	wait "$dockerd_pid" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 60); do
	docker info >/dev/null 2>&1 && break
	sleep 1
done
docker info >/dev/null 2>&1 || { tail -n 30 /var/log/dockerd.log >&2; echo "esb-e2e: dockerd did not start" >&2; exit 1; }

# A run killed half-way leaves containers (restart policies bring them back),
# volumes and networks that would hold ports and names: start from images only.
docker ps -aq | xargs -r docker rm -f >/dev/null
docker volume ls -q | xargs -r docker volume rm -f >/dev/null
docker network prune -f >/dev/null

# Load a tarball only when it differs from what this data directory holds.
while read -r file ref; do
	sum=$(sha256sum "/images/$file" | cut -d' ' -f1)
	marker=$root/loaded/$(printf '%s' "$ref" | tr '/:' '__')
	if [ "$(cat "$marker" 2>/dev/null)" = "$sum" ] && docker image inspect "$ref" >/dev/null 2>&1; then
		continue
	fi
	id=$(docker load -q -i "/images/$file" | sed -n 's/^Loaded image ID: //p; s/^Loaded image: //p' | tail -n 1)
	[ -n "$id" ] || { echo "esb-e2e: docker load of $ref printed no image" >&2; exit 1; }
	docker tag "$id" "$ref"
	echo "$sum" >"$marker"
	echo "esb-e2e: loaded $ref" >&2
done </images/list

# The suite brings up envs in parallel, and each `up` would build the
# platform's missing images at the same time: let one `up --no-start`
# build them first (tagged as `esb env` tags them), as on a machine that
# ran the platform before.
(
	eval "$(go run ./cmd/esb env -e e2e-images)"
	mkdir -p "$CONFIG_DIR"
	compose() {
		docker compose -f compose/docker-compose.infra.yml -f compose/docker-compose.docker.yml \
			--profile provisioner --progress plain "$@" >>/var/log/compose-build.log 2>&1
	}
	compose up --no-start && compose down --volumes ||
		{ tail -n 40 /var/log/compose-build.log >&2; exit 1; }
)

cd /src/e2e
go test -tags e2e -count=1 -v -timeout 60m -run "$run" . 2>&1
