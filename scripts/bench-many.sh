#!/usr/bin/env bash
# Many new workspaces in one call against a loop of `docker run -d` of the
# same containers, on the engine of the current context (local, bind mode).
#
#   scripts/bench-many.sh [M] [N]   M workspaces (default 60), N rounds (default 3)
#
# Each round runs in turn, on fresh names:
#   run      for each of M: docker run -d ... (the directory made beforehand)
#   ensure   docker workspace ensure S1 ... SM   (one call; --parallel's default)
# and prints the median wall time of each and its ratio to `run`. The plugin
# must be installed (make install). What it makes is removed after each round.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
plugin_path bench-many >/dev/null
M=${1:-60}
N=${2:-3}
IMAGE=${IMAGE:-agent/workspace:latest}
base=$(mktemp -d /tmp/bench-many-XXXXXX)
chmod 700 "$base"
root=$base/workspaces shared=$base/shared
mkdir -p "$root" "$shared"
tag=bm$$
clean() { docker ps -aq --filter "name=^/gws-$tag-" --filter "name=^/$tag-run-" | xargs -r docker rm -f >/dev/null; }
trap 'clean; rm -rf "$base"' EXIT

declare -a t_run t_ensure
docker workspace ensure --workspace-root "$root" --shared-dir "$shared" "$tag-warm" >/dev/null
for r in $(seq 1 "$N"); do
	for i in $(seq 1 "$M"); do mkdir -m 755 "$root/run$r-$i"; done
	t0=$(now)
	for i in $(seq 1 "$M"); do
		docker run -d --name "$tag-run-$r-$i" --init --entrypoint sleep \
			--mount "type=bind,src=$root/run$r-$i,dst=/home/agent/workspace" \
			--mount "type=bind,src=$shared,dst=/home/agent/shared" "$IMAGE" infinity >/dev/null
	done
	t1=$(now)
	docker workspace ensure ${PARALLEL:+--parallel $PARALLEL} --workspace-root "$root" --shared-dir "$shared" $(for i in $(seq 1 "$M"); do echo "$tag-$r-$i"; done) >/dev/null
	t2=$(now)
	t_run+=($(((t1 - t0) / 1000)))
	t_ensure+=($(((t2 - t1) / 1000)))
	clean
done
report run ensure
echo "($M workspaces a round)"
