# scripts/k8s/selftest.sh - sourced by cluster.sh selftest: checks the cluster's contract with ESB on the running
# cluster, with real Docker containers and real Pods on both nodes, and cleans up after itself. Exit status 1 when
# any check fails. Everything it creates is named esb-k8s-selftest*.

ST_NS=esb-k8s-selftest
ST_WEB=esb-k8s-selftest-web
ST_REG=esb-k8s-selftest-registry
ST_NET=esb-k8s-selftest
# Ports outside ESB's env blocks (5000 + 100*k + 0..60).
ST_ALLOWED=18071
ST_DENIED=18072
ST_REGPORT=18073
ST_FAILED=0

st_check() { # description expected actual
	if [ "$2" = "$3" ]; then
		printf '  ok    %-62s %s\n' "$1" "$3" >&2
	else
		printf '  FAIL  %-62s %s (want %s)\n' "$1" "$3" "$2" >&2
		ST_FAILED=1
	fi
}

st_cleanup() {
	set +e
	kc delete namespace $ST_NS --wait=false >/dev/null 2>&1
	kc delete clusterrolebinding "esb-agent-nodes-$ST_NS" >/dev/null 2>&1
	docker rm -f $ST_WEB $ST_REG >/dev/null 2>&1
	docker network rm $ST_NET >/dev/null 2>&1
	docker rmi "127.0.0.1:$ST_REGPORT/selftest/probe:1" >/dev/null 2>&1
	cmd_allow_ports remove $ST_ALLOWED 2>/dev/null
	cmd_trust_registry remove "$HOST_ADDR:$ST_REGPORT" 2>/dev/null
	set -e
}

# st_pod NAME NODE IMAGE [PULL]: a probe Pod serving :8080 on NODE.
st_pod() {
	# The namespace warns about the "restricted" level; the probe Pods are not the point.
	kc apply -f - 2> >(grep -v '^Warning:' >&2) >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $ST_NS}
spec:
  nodeName: $2
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  containers:
  - {name: probe, image: "$3", imagePullPolicy: ${4:-Never}, args: [serve, ":8080"]}
EOF
}

st_dial() { # pod host:port
	kc -n $ST_NS exec "$1" -- /probe dial "$2" 2>/dev/null || true
}

st_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

selftest() {
	need_root selftest
	cluster_running || die "the cluster is not up: $0 up"
	trap st_cleanup EXIT
	st_cleanup
	local t out

	log "1. the API server from Docker containers (default bridge and a user network, as compose makes)"
	docker network create $ST_NET >/dev/null
	local net
	for net in bridge $ST_NET; do
		out=$(docker run --rm --network $net --user 0 --entrypoint /kubectl -v "$BIN/kubectl:/kubectl:ro" \
			-v "$CFG/admin.kubeconfig:/kc:ro" "$PROBE_IMAGE" --kubeconfig /kc get --raw /readyz 2>&1 || true)
		st_check "container on network $net: GET /readyz (admin kubeconfig)" ok "$out"
	done

	log "2. the agent's least-privilege kubeconfig"
	cmd_agent_kubeconfig $ST_NS "$STATE/selftest-agent.kubeconfig"
	local akc=("$BIN/kubectl" --kubeconfig "$STATE/selftest-agent.kubeconfig")
	st_check "agent: create pods in $ST_NS" yes "$("${akc[@]}" auth can-i create pods -n $ST_NS 2>/dev/null || true)"
	st_check "agent: watch nodes" yes "$("${akc[@]}" auth can-i watch nodes 2>/dev/null || true)"
	st_check "agent: create pods in default" no "$("${akc[@]}" auth can-i create pods -n default 2>/dev/null || true)"
	st_check "agent: read secrets in kube-system" no "$("${akc[@]}" auth can-i get secrets -n kube-system 2>/dev/null || true)"
	out=$("${akc[@]}" -n $ST_NS run hostpath --image "$PROBE_IMAGE" --overrides \
		'{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/"}}],"containers":[{"name":"hostpath","image":"'"$PROBE_IMAGE"'","volumeMounts":[{"name":"h","mountPath":"/h"}]}]}}' \
		2>&1 | grep -o 'forbidden' | head -1 || true)
	st_check "agent: a hostPath Pod is refused (PodSecurity baseline)" forbidden "$out"

	log "3. Pods on both nodes"
	t=$(date +%s%N)
	st_pod probe-1 esb-k8s-1 "$PROBE_IMAGE"
	st_pod probe-1b esb-k8s-1 "$PROBE_IMAGE"
	st_pod probe-2 esb-k8s-2 "$PROBE_IMAGE"
	kc -n $ST_NS wait --for=condition=Ready pod/probe-1 pod/probe-1b pod/probe-2 --timeout=120s >/dev/null
	log "3 Pods created -> Ready in $(st_ms "$t")ms"
	local ip1b ip2
	ip1b=$(kc -n $ST_NS get pod probe-1b -o jsonpath='{.status.podIP}')
	ip2=$(kc -n $ST_NS get pod probe-2 -o jsonpath='{.status.podIP}')

	log "4. what Pods reach (allowed: $HOST_ADDR:$ST_ALLOWED only)"
	docker run -d --name $ST_WEB -p "$HOST_ADDR:$ST_ALLOWED:8080" -p "$HOST_ADDR:$ST_DENIED:8080" "$PROBE_IMAGE" serve :8080 >/dev/null
	cmd_allow_ports add $ST_ALLOWED
	local webip hostip
	webip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $ST_WEB)
	hostip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	wait_for "the web container" 20 curl -sf "http://$HOST_ADDR:$ST_ALLOWED/"
	local p
	for p in probe-1 probe-2; do
		st_check "$p -> $HOST_ADDR:$ST_ALLOWED (Docker-published, allowed)" open "$(st_dial $p $HOST_ADDR:$ST_ALLOWED)"
		out=$(kc -n $ST_NS exec $p -- /probe get "http://$HOST_ADDR:$ST_ALLOWED/" 2>/dev/null | cut -c1-3 || true)
		st_check "$p -> GET http://$HOST_ADDR:$ST_ALLOWED/" 200 "$out"
		st_check "$p -> $HOST_ADDR:$ST_DENIED (Docker-published, not allowed)" blocked "$(st_dial $p $HOST_ADDR:$ST_DENIED)"
		st_check "$p -> $webip:8080 (the container itself)" blocked "$(st_dial $p "$webip:8080")"
		st_check "$p -> $HOST_ADDR:$APISERVER_PORT (API server)" blocked "$(st_dial $p $HOST_ADDR:$APISERVER_PORT)"
		st_check "$p -> $HOST_ADDR:$ETCD_PORT (etcd's port on the host)" blocked "$(st_dial $p $HOST_ADDR:$ETCD_PORT)"
		st_check "$p -> $HOST_ADDR:$KUBELET_PORT (node 1 kubelet)" blocked "$(st_dial $p $HOST_ADDR:$KUBELET_PORT)"
		st_check "$p -> $N2_LINK_NODE:$KUBELET_PORT (node 2 kubelet)" blocked "$(st_dial $p $N2_LINK_NODE:$KUBELET_PORT)"
		st_check "$p -> 10.247.1.1:$KUBELET_PORT (node 2 bridge address)" blocked "$(st_dial $p 10.247.1.1:$KUBELET_PORT)"
		[ -z "$hostip" ] || st_check "$p -> $hostip:22 (host's own address)" blocked "$(st_dial $p "$hostip:22")"
		st_check "$p -> $ip2:8080 / $ip1b:8080 (another Pod)" blocked \
			"$(st_dial $p "$([ $p = probe-1 ] && echo "$ip2" || echo "$ip1b"):8080")"
	done
	st_check "probe-1 -> $ip1b:8080 (a Pod on the same bridge)" blocked "$(st_dial probe-1 "$ip1b:8080")"
	# The controls: the Pods do listen (the host reaches them), and a Pod reaches itself.
	st_check "host -> $ip1b:8080 and $ip2:8080 (control)" "200 200" \
		"$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$ip1b:8080/") $(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$ip2:8080/")"
	st_check "probe-1b -> $ip1b:8080 (itself, control)" open "$(st_dial probe-1b "$ip1b:8080")"
	st_check "sysctl net.ipv4.conf.esbk8s0.route_localnet (no 127/8 from Pods)" 0 \
		"$(cat /proc/sys/net/ipv4/conf/esbk8s0/route_localnet)"

	log "5. both nodes pull from a plain-HTTP registry published on $HOST_ADDR"
	local regimg
	regimg=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(esb/)?registry:v?[0-9.]+$' | head -1)
	if [ -z "$regimg" ]; then
		st_check "a registry image in Docker (registry:N or esb/registry:vN)" present missing
	else
		docker run -d --name $ST_REG -p "127.0.0.1:$ST_REGPORT:5000" -p "$HOST_ADDR:$ST_REGPORT:5000" "$regimg" >/dev/null
		wait_for "the registry" 30 curl -sf "http://127.0.0.1:$ST_REGPORT/v2/"
		# An image of its own (another config, another image ID): containerd 1.6's CRI keeps one record per image ID,
		# and a pulled twin of the imported probe image could take the probe image's record with it when removed.
		printf 'FROM %s\nLABEL esb.selftest=pull\n' "$PROBE_IMAGE" |
			docker build -q -t "127.0.0.1:$ST_REGPORT/selftest/probe:1" - >/dev/null 2>&1
		docker push -q "127.0.0.1:$ST_REGPORT/selftest/probe:1" >/dev/null
		cmd_trust_registry add "$HOST_ADDR:$ST_REGPORT"
		t=$(date +%s%N)
		st_pod pull-1 esb-k8s-1 "$HOST_ADDR:$ST_REGPORT/selftest/probe:1" Always
		st_pod pull-2 esb-k8s-2 "$HOST_ADDR:$ST_REGPORT/selftest/probe:1" Always
		if kc -n $ST_NS wait --for=condition=Ready pod/pull-1 pod/pull-2 --timeout=120s >/dev/null 2>&1; then
			st_check "pull $HOST_ADDR:$ST_REGPORT/selftest/probe:1 on both nodes ($(st_ms "$t")ms)" Ready Ready
		else
			st_check "pull $HOST_ADDR:$ST_REGPORT/selftest/probe:1 on both nodes" Ready \
				"$(kc -n $ST_NS get pods pull-1 pull-2 --no-headers 2>&1 | awk '{print $3}' | tr '\n' ' ')"
		fi
		st_check "probe-2 -> $HOST_ADDR:$ST_REGPORT (the registry, not allowed)" blocked "$(st_dial probe-2 $HOST_ADDR:$ST_REGPORT)"
	fi

	log "6. the host"
	host_safety_check || ST_FAILED=1
	[ $ST_FAILED = 0 ] && log "selftest passed" || log "selftest FAILED"
	return $ST_FAILED
}
