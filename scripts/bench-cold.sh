#!/usr/bin/env bash
# Cold ensure against `docker run -d` with the same configuration, on the
# engine of the current context (local, bind mode): the same image, init,
# entrypoint, workspace and shared bind mounts, labels aside.
#
#   scripts/bench-cold.sh [N]      N rounds (default 20), interleaved
#
# Each round runs, on fresh names, in turn:
#   run         docker run -d ... (the directory made beforehand, as ensure makes it)
#   run-open    the same on gws.open, the network of the open egress mode (a
#               user-defined bridge costs the engine more to start a
#               container on than its default one: that part is the
#               network's, not the tool's)
#   plugin      docker workspace ensure SUBDIR         (through the docker CLI)
#   standalone  docker-workspace ensure SUBDIR         (the binary on its own, as a gateway calls it)
# and prints the median wall time of each and its ratio to `run`. The plugin
# must be installed (make install). Everything it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
N=${1:-20}
PLUGIN=$(plugin_path bench-cold)
IMAGE=${IMAGE:-agent/workspace:latest}
base=$(mktemp -d /tmp/bench-cold-XXXXXX)
chmod 700 "$base" # nobody else reaches the shared directory
root=$base/workspaces shared=$base/shared
mkdir -p "$root" "$shared"
tag=bc$$
cleanup() {
	docker ps -aq --filter "name=^/gws-$tag-" --filter "name=^/$tag-run-" | xargs -r docker rm -f >/dev/null
	rm -rf "$base"
}
trap cleanup EXIT

declare -a t_run t_runopen t_plugin t_standalone
# One of each first, not counted: caches warm.
docker run -d --name "$tag-run-warm" --init --entrypoint sleep "$IMAGE" infinity >/dev/null
docker workspace ensure --workspace-root "$root" --shared-dir "$shared" "$tag-warm" >/dev/null # gws.open made
for i in $(seq 1 "$N"); do
	mkdir -m 755 "$root/run$i" "$root/runo$i"
	t0=$(now)
	docker run -d --name "$tag-run-$i" --init --entrypoint sleep \
		--mount "type=bind,src=$root/run$i,dst=/home/agent/workspace" \
		--mount "type=bind,src=$shared,dst=/home/agent/shared" "$IMAGE" infinity >/dev/null
	ta=$(now)
	docker run -d --name "$tag-run-o$i" --network gws.open --init --entrypoint sleep \
		--mount "type=bind,src=$root/runo$i,dst=/home/agent/workspace" \
		--mount "type=bind,src=$shared,dst=/home/agent/shared" "$IMAGE" infinity >/dev/null
	t1=$(now)
	docker workspace ensure --workspace-root "$root" --shared-dir "$shared" "$tag-p$i" >/dev/null
	t2=$(now)
	"$PLUGIN" ensure --workspace-root "$root" --shared-dir "$shared" "$tag-s$i" >/dev/null
	t3=$(now)
	t_run+=($(((ta - t0) / 1000)))
	t_runopen+=($(((t1 - ta) / 1000)))
	t_plugin+=($(((t2 - t1) / 1000)))
	t_standalone+=($(((t3 - t2) / 1000)))
done
report run runopen plugin standalone
