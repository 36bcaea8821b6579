#!/usr/bin/env bash
# A reaper pass that stops M idle workspaces against docker stop of the same
# containers in one call, on the engine of the current context.
#
#   scripts/bench-reap.sh [M] [N]    M workspaces (default 200), N rounds (default 3)
#
# Each round starts the M containers again (not timed), waits for them to be
# idle for a second, then times, in turn:
#   docker   docker stop gws-… (all M in one call)
#   reap     docker workspace reap --once --idle-for 1s (a filter: these M)
# and prints the median wall time of each and its ratio to `docker`. The
# plugin must be installed (make install). What it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
plugin_path bench-reap >/dev/null
M=${1:-200}
N=${2:-3}
base=$(mktemp -d /tmp/bench-reap-XXXXXX)
chmod 700 "$base"
tag=br$$
trap 'docker ps -aq --filter "label=bench=$tag" | xargs -r docker rm -f >/dev/null; rm -rf "$base"' EXIT
flags=(--workspace-root "$base/workspaces" --shared-dir "$base/shared" --label "bench=$tag")
names=$(for i in $(seq 1 "$M"); do echo "$tag-$i"; done)
docker workspace ensure --parallel 16 "${flags[@]}" $names >/dev/null
ctrs=$(for n in $names; do echo "gws-$n"; done)

declare -a t_docker t_reap
for _ in $(seq 1 "$N"); do
	sleep 2 # idle for more than --idle-for
	t0=$(now)
	docker stop $ctrs >/dev/null
	t1=$(now)
	docker start $ctrs >/dev/null
	sleep 2
	t2=$(now)
	docker workspace reap --once --quiet --idle-for 1s --filter "label=bench=$tag"
	t3=$(now)
	[ -z "$(docker ps -q --filter "label=bench=$tag")" ] || { echo "bench-reap: the reaper left workspaces running" >&2; exit 1; }
	docker start $ctrs >/dev/null
	t_docker+=($(((t1 - t0) / 1000)))
	t_reap+=($(((t3 - t2) / 1000)))
done
report docker reap
