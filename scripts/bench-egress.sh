#!/usr/bin/env bash
# The cost of the egress modes, on the engine of the current context
# (local, bind mode):
#
#   scripts/bench-egress.sh [N]      N rounds (default 15), interleaved
#
# 1. Cold ensure in each mode against `docker run -d` of the same container
#    (image, init, entrypoint, workspace and shared bind mounts): each round
#    runs, on fresh names, run, open (the default), none, allowlist and
#    public (these two make a network and an egress proxy too).
# 2. A rule change: `docker workspace egress allow` on a running workspace,
#    until the proxy has it in force (the command returns then).
# 3. A TLS connection through the proxy against a direct one: a client on
#    an internal network with an HTTPS origin (the e2e fake internet's
#    program, its test certificate) gets the origin N times, each on a new
#    connection; the same client in an allowlist workspace whose proxy goes
#    out through that network. Median of each, and the difference.
#
# The plugin must be installed (make install); Go builds the probe.
# Everything it makes is removed at the end.
set -euo pipefail
. "$(dirname "$0")/bench-report.sh"
N=${1:-15}
plugin_path bench-egress >/dev/null
IMAGE=${IMAGE:-agent/workspace:latest}
base=$(mktemp -d /tmp/bench-egress-XXXXXX)
chmod 700 "$base"
root=$base/workspaces shared=$base/shared
mkdir -p "$root" "$shared"
tag=be$$
ws() { docker workspace "$1" --workspace-root "$root" --shared-dir "$shared" "${@:2}"; }
cleanup() {
	for s in $(docker ps -a --format '{{.Label "docker-workspace.subdir"}}' --filter "name=^/gws-$tag-"); do
		docker workspace rm -f "$s" >/dev/null 2>&1 || true
	done
	docker ps -aq --filter "name=^/$tag-" | xargs -r docker rm -f >/dev/null
	docker network rm "$tag-net" >/dev/null 2>&1 || true
	docker rmi -f "$tag/fakenet" "$tag/probe" >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT

# 1. Cold ensure, mode by mode.
declare -a t_run t_open t_none t_allowlist t_public
docker run -d --name "$tag-run-warm" --init --entrypoint sleep "$IMAGE" infinity >/dev/null
ws ensure --egress allowlist --allow example.com "$tag-warm" >/dev/null # the proxy image loaded, the networks made
for i in $(seq 1 "$N"); do
	mkdir -m 755 "$root/run$i"
	t0=$(now)
	docker run -d --name "$tag-run-$i" --init --entrypoint sleep \
		--mount "type=bind,src=$root/run$i,dst=/home/agent/workspace" \
		--mount "type=bind,src=$shared,dst=/home/agent/shared" "$IMAGE" infinity >/dev/null
	t1=$(now)
	ws ensure "$tag-o$i" >/dev/null
	t2=$(now)
	ws ensure --egress none "$tag-n$i" >/dev/null
	t3=$(now)
	ws ensure --egress allowlist --allow example.com "$tag-a$i" >/dev/null
	t4=$(now)
	ws ensure --egress public "$tag-p$i" >/dev/null
	t5=$(now)
	t_run+=($(((t1 - t0) / 1000)))
	t_open+=($(((t2 - t1) / 1000)))
	t_none+=($(((t3 - t2) / 1000)))
	t_allowlist+=($(((t4 - t3) / 1000)))
	t_public+=($(((t5 - t4) / 1000)))
done
echo "cold ensure, by egress mode:"
report run open none allowlist public

# 2. A rule change, live.
declare -a t_change
for i in $(seq 1 "$N"); do
	t0=$(now)
	docker workspace egress allow "$tag-a1" "r$i.example.com" >/dev/null
	t1=$(now)
	t_change+=($(((t1 - t0) / 1000)))
done
echo
echo "egress allow (in force when it returns): median $(awk -v a="$(median "${t_change[@]}")" 'BEGIN {printf "%.1fms", a/1000}') ($N rounds)"

# 3. TLS through the proxy against direct.
dir=$base/fakenet
mkdir -p "$dir"
(cd "$(dirname "$0")/.." && CGO_ENABLED=0 go build -o "$dir/fakenet" ./e2e/fakenet)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=origin.test \
	-addext subjectAltName=DNS:origin.test -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cp "$dir/cert.pem" "$dir/ca.pem"
printf 'FROM scratch\nCOPY fakenet /fakenet\nCOPY ca.pem cert.pem key.pem /etc/fakenet/\nENTRYPOINT ["/fakenet"]\n' >"$dir/Dockerfile.fakenet"
printf 'FROM %s\nCOPY fakenet /usr/local/bin/probe\nCOPY ca.pem /etc/fakenet/ca.pem\n' "$IMAGE" >"$dir/Dockerfile.probe"
DOCKER_BUILDKIT=0 docker build -q -f "$dir/Dockerfile.fakenet" -t "$tag/fakenet" "$dir" >/dev/null 2>&1
DOCKER_BUILDKIT=0 docker build -q -f "$dir/Dockerfile.probe" -t "$tag/probe" "$dir" >/dev/null 2>&1
docker network create --internal "$tag-net" >/dev/null
docker run -d --name "$tag-origin" --network "$tag-net" "$tag/fakenet" origin >/dev/null
origin=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$tag-origin")
docker run -d --name "$tag-dns" --network "$tag-net" "$tag/fakenet" dns "$origin" >/dev/null
dns=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$tag-dns")
direct=$(docker run --rm --network "$tag-net" --dns "$dns" --entrypoint probe "$tag/probe" bench https://origin.test/ "$((N * 10))")
ws ensure --image "$tag/probe" --egress allowlist --allow origin.test --allow "$origin" \
	--egress-network "$tag-net" --egress-dns "$dns" "$tag-tls" >/dev/null
proxied=$(docker workspace exec --no-ensure "$tag-tls" probe bench https://origin.test/ "$((N * 10))")
echo
echo "a TLS connection and a GET ($((N * 10)) each, median): direct ${direct}µs, through the proxy ${proxied}µs, +$((proxied - direct))µs"
