#!/usr/bin/env bash
# stats --no-stream of many workspaces against `docker stats --no-stream` of
# their containers, on the engine of the current context, interleaved.
#
#   scripts/bench-stats.sh [M] [N]    M workspaces (default 200), N rounds (default 10)
#
# Each round runs in turn:
#   docker   docker stats --no-stream gws-…        (the same containers)
#   stats    docker workspace stats --no-stream    (through the docker CLI)
# and prints the median wall time of each and its ratio to `docker`. The
# plugin must be installed (make install). What it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
plugin_path bench-stats >/dev/null
M=${1:-200}
N=${2:-10}
base=$(mktemp -d /tmp/bench-stats-XXXXXX)
chmod 700 "$base"
tag=bs$$
trap 'docker ps -aq --filter "name=^/gws-$tag-" | xargs -r docker rm -f >/dev/null; rm -rf "$base"' EXIT
names=$(for i in $(seq 1 "$M"); do echo "$tag-$i"; done)
docker workspace ensure --parallel 16 --workspace-root "$base/workspaces" --shared-dir "$base/shared" $names >/dev/null
ctrs=$(for n in $names; do echo "gws-$n"; done)

declare -a t_docker t_stats
for _ in $(seq 1 "$N"); do
	t0=$(now)
	docker stats --no-stream $ctrs >/dev/null
	t1=$(now)
	docker workspace stats --no-stream $names >/dev/null
	t2=$(now)
	t_docker+=($(((t1 - t0) / 1000)))
	t_stats+=($(((t2 - t1) / 1000)))
done
report docker stats
