#!/usr/bin/env bash
# docker workspace exec on a running workspace against docker exec on its
# container, on the engine of the current context.
#
#   scripts/bench-exec.sh [N]      N rounds (default 30), interleaved
#
# Each round runs, in turn:
#   docker      docker exec gws-SUBDIR true
#   plugin      docker workspace exec SUBDIR true      (through the docker CLI)
#   standalone  docker-workspace exec SUBDIR true      (the binary on its own, as a gateway calls it)
# and prints the median wall time of each and its ratio to `docker`. The
# plugin must be installed (make install). The workspace is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
N=${1:-30}
PLUGIN=$(plugin_path bench-exec)
base=$(mktemp -d /tmp/bench-exec-XXXXXX)
chmod 700 "$base" # nobody else reaches the shared directory
ws=be$$
flags=(--workspace-root "$base/workspaces" --shared-dir "$base/shared")
cleanup() {
	docker rm -f "gws-$ws" >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT
docker workspace ensure "${flags[@]}" "$ws" >/dev/null

declare -a t_docker t_plugin t_standalone
# One of each first, not counted: caches warm.
docker exec "gws-$ws" true
docker workspace exec "${flags[@]}" "$ws" true
for _ in $(seq 1 "$N"); do
	t0=$(now)
	docker exec "gws-$ws" true
	t1=$(now)
	docker workspace exec "${flags[@]}" "$ws" true
	t2=$(now)
	"$PLUGIN" exec "${flags[@]}" "$ws" true
	t3=$(now)
	t_docker+=($(((t1 - t0) / 1000)))
	t_plugin+=($(((t2 - t1) / 1000)))
	t_standalone+=($(((t3 - t2) / 1000)))
done
report docker plugin standalone
