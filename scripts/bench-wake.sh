#!/usr/bin/env bash
# Waking a suspended workspace: docker workspace exec into a paused one
# against docker exec into a running one, and into a stopped one against
# docker start + docker exec, on the engine of the current context.
#
#   scripts/bench-wake.sh [N]      N rounds (default 20), interleaved
#
# Each round, in turn (suspending is not timed):
#   exec          docker exec gws-SUBDIR true                  (running)
#   paused        docker workspace exec SUBDIR true            (after docker pause)
#   start+exec    docker start gws-SUBDIR; docker exec … true  (after docker stop)
#   stopped       docker workspace exec SUBDIR true            (after docker stop)
# and prints the median wall time of each and its ratio to `exec`. The plugin
# must be installed (make install). The workspace is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
plugin_path bench-wake >/dev/null
N=${1:-20}
base=$(mktemp -d /tmp/bench-wake-XXXXXX)
chmod 700 "$base"
ws=bw$$
ctr=gws-$ws
flags=(--workspace-root "$base/workspaces" --shared-dir "$base/shared")
trap 'docker rm -f "$ctr" >/dev/null 2>&1 || true; rm -rf "$base"' EXIT
docker workspace ensure "${flags[@]}" "$ws" >/dev/null
docker exec "$ctr" true
docker workspace exec "${flags[@]}" "$ws" true

declare -a t_exec t_paused t_startexec t_stopped
for _ in $(seq 1 "$N"); do
	t0=$(now)
	docker exec "$ctr" true
	t1=$(now)
	docker pause "$ctr" >/dev/null
	t2=$(now)
	docker workspace exec "${flags[@]}" "$ws" true
	t3=$(now)
	docker stop "$ctr" >/dev/null
	t4=$(now)
	docker start "$ctr" >/dev/null
	docker exec "$ctr" true
	t5=$(now)
	docker stop "$ctr" >/dev/null
	t6=$(now)
	docker workspace exec "${flags[@]}" "$ws" true
	t7=$(now)
	t_exec+=($(((t1 - t0) / 1000)))
	t_paused+=($(((t3 - t2) / 1000)))
	t_startexec+=($(((t5 - t4) / 1000)))
	t_stopped+=($(((t7 - t6) / 1000)))
done
report exec paused startexec stopped
