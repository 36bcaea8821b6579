#!/usr/bin/env bash
# ls of many workspaces against `docker ps -a` of their containers, on the
# engine of the current context, interleaved.
#
#   scripts/bench-ls.sh [M] [N]    M workspaces (default 200), N rounds (default 20)
#
# Each round runs in turn:
#   ps       docker ps -a --filter label=docker-workspace.subdir
#   ls       docker workspace ls                     (through the docker CLI)
# and prints the median wall time of each and its ratio to `ps`. The plugin
# must be installed (make install). What it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
plugin_path bench-ls >/dev/null
M=${1:-200}
N=${2:-20}
base=$(mktemp -d /tmp/bench-ls-XXXXXX)
chmod 700 "$base"
tag=bl$$
trap 'docker ps -aq --filter "name=^/gws-$tag-" | xargs -r docker rm -f >/dev/null; rm -rf "$base"' EXIT
docker workspace ensure --parallel 16 --workspace-root "$base/workspaces" --shared-dir "$base/shared" \
	$(for i in $(seq 1 "$M"); do echo "$tag-$i"; done) >/dev/null

declare -a t_ps t_ls
for _ in $(seq 1 "$N"); do
	t0=$(now)
	docker ps -a --filter label=docker-workspace.subdir >/dev/null
	t1=$(now)
	docker workspace ls >/dev/null
	t2=$(now)
	t_ps+=($(((t1 - t0) / 1000)))
	t_ls+=($(((t2 - t1) / 1000)))
done
report ps ls
echo "($(docker ps -aq --filter label=docker-workspace.subdir | wc -l) workspace containers on the engine)"
