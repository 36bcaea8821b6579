#!/usr/bin/env bash
# Workspaces at scale on the Swarm of `scripts/engines.sh up swarm` (context
# "swarm"), against one engine (context "modern") for the warm ensure.
#
#   scripts/bench-swarm.sh [N] [PARALLEL]     N workspaces (default 200), PARALLEL at once (default 16)
#
# Measures: the time to ensure all N in one call (--parallel), their spread
# over the nodes, the time of `ls`, and a warm ensure (median of 20) with the
# API calls it makes (strace, when installed) on Swarm and on one engine.
# Everything it makes (services, volumes, containers) is removed at the end;
# the plugin must be installed (make install).
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
N=${1:-200}
P=${2:-16}
id=bsw$$
export GATEWAY_WORKSPACE_MOUNT_MODE=volume_subpath GATEWAY_WORKSPACE_DOCKER_VOLUME=$id-ws GATEWAY_SHARED_DOCKER_VOLUME=$id-sh
SW=(env GATEWAY_WORKSPACE_ORCHESTRATOR=swarm docker --context swarm workspace)
ENG=(env GATEWAY_WORKSPACE_ORCHESTRATOR=engine docker --context modern workspace)
ms() { echo $((($2 - $1) / 1000000)); }

cleanup() {
	local ids
	ids=$(docker --context swarm service ls -q --filter "name=gws-$id-" 2>/dev/null || true)
	[ -z "$ids" ] || docker --context swarm service rm $ids >/dev/null 2>&1 || true
	# The claims of its workspaces (rm keeps them, as the data).
	docker --context swarm config ls --filter label=docker-workspace.claim --format '{{.ID}} {{index .Labels "docker-workspace.subdir"}}' 2>/dev/null |
		awk -v p="$id-" 'index($2, p) == 1 {print $1}' | xargs -r docker --context swarm config rm >/dev/null 2>&1 || true
	for n in sw1 sw2 sw3; do
		for _ in $(seq 1 120); do
			[ -z "$(docker --context "$n" ps -aq --filter "name=gws-$id-" 2>/dev/null)" ] && break
			sleep 0.5
		done
		docker --context "$n" volume rm -f "$id-ws" "$id-sh" >/dev/null 2>&1 || true
	done
	docker --context modern rm -f "gws-$id-engine" >/dev/null 2>&1 || true
	docker --context modern volume rm -f "$id-ws" "$id-sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT

names=()
for i in $(seq 1 "$N"); do names+=("$id-$i"); done
echo "ensuring $N workspaces on the Swarm, $P at once..."
t0=$(now)
"${SW[@]}" ensure --parallel "$P" "${names[@]}" >/dev/null 2>/tmp/$id.err || { cat /tmp/$id.err >&2; exit 1; }
t1=$(now)
cold=$(ms "$t0" "$t1")
rm -f /tmp/$id.err

declare -a t_ls t_warm_swarm t_warm_engine
for _ in 1 2 3 4 5; do
	t0=$(now)
	"${SW[@]}" ls >/dev/null
	t1=$(now)
	t_ls+=($(ms "$t0" "$t1"))
done
spread=$("${SW[@]}" ls --filter "name=gws-$id-" --format '{{.Node}} {{.State}}' | awk -v p="$id-" '{n[$1]++; s[$2]++} END {for (k in n) printf "%s %d, ", k, n[k]; printf "(states:"; for (k in s) printf " %s %d", k, s[k]; printf ")"}')

"${ENG[@]}" ensure "$id-engine" >/dev/null
for _ in $(seq 1 20); do
	t0=$(now)
	"${SW[@]}" ensure "$id-1" >/dev/null
	t1=$(now)
	"${ENG[@]}" ensure "$id-engine" >/dev/null
	t2=$(now)
	t_warm_swarm+=($(ms "$t0" "$t1"))
	t_warm_engine+=($(ms "$t1" "$t2"))
done
calls() {
	command -v strace >/dev/null || { echo "(no strace)"; return; }
	strace -f -e trace=write,sendto -s 200 "$@" 2>&1 >/dev/null | grep -oE '"(GET|POST|HEAD|PUT|DELETE) /[^ ?]*' | sed 's/^"//; s#/v1\.[0-9]*##' | sort | uniq -c | awk '{printf "%s %s x%d; ", $2, $3, $1}'
}
echo
echo "ensure of $N new workspaces, --parallel $P: ${cold} ms ($(awk -v a="$cold" -v n="$N" 'BEGIN {printf "%.0f", a/n}') ms each)"
echo "spread over nodes: $spread"
echo "ls of $N: median $(median "${t_ls[@]}") ms"
echo "warm ensure, Swarm:      median $(median "${t_warm_swarm[@]}") ms; HTTP requests: $(calls "${SW[@]}" ensure "$id-1")"
echo "warm ensure, one engine: median $(median "${t_warm_engine[@]}") ms; HTTP requests: $(calls "${ENG[@]}" ensure "$id-engine")"
echo "(Swarm of $(docker --context swarm node ls -q | wc -l) nodes, Engine $(docker --context swarm version --format '{{.Server.Version}}'), $(nproc) cores)"
