#!/usr/bin/env bash
# Warm ensure (the workspace runs) against `docker inspect` of its container,
# on the engine of the current context, interleaved.
#
#   scripts/bench-warm.sh [N]      N rounds (default 30)
#
# Each round runs in turn:
#   inspect     docker inspect gws-SUBDIR
#   plugin      docker workspace ensure SUBDIR       (through the docker CLI)
#   standalone  docker-workspace ensure SUBDIR       (the binary on its own)
# and prints the median wall time of each and its ratio to `inspect`. A warm
# ensure is one API call, as docker inspect is. The plugin must be installed
# (make install). What it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
N=${1:-30}
PLUGIN=$(plugin_path bench-warm)
base=$(mktemp -d /tmp/bench-warm-XXXXXX)
chmod 700 "$base"
s=bw$$
args=(--workspace-root "$base/workspaces" --shared-dir "$base/shared")
cleanup() {
	docker rm -f "gws-$s" >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT
docker workspace ensure "${args[@]}" "$s" >/dev/null
docker inspect "gws-$s" >/dev/null

declare -a t_inspect t_plugin t_standalone
for _ in $(seq 1 "$N"); do
	t0=$(now)
	docker inspect "gws-$s" >/dev/null
	t1=$(now)
	docker workspace ensure "${args[@]}" "$s" >/dev/null
	t2=$(now)
	"$PLUGIN" ensure "${args[@]}" "$s" >/dev/null
	t3=$(now)
	t_inspect+=($(((t1 - t0) / 1000)))
	t_plugin+=($(((t2 - t1) / 1000)))
	t_standalone+=($(((t3 - t2) / 1000)))
done
report inspect plugin standalone
