#!/usr/bin/env bash
# Brings up the real Docker engines that the e2e tests and the demo use, where
# none answers, as ../shared/ENGINES.md describes:
#
#   modern  Engine 28.5 (Debian testing), API 1.51, unix:///var/run/docker.sock
#           contexts "default" and "modern"; when this script starts it, it
#           also listens on tcp://127.0.0.1:2376 with TLS (certificates made
#           here, in $ENGINES_DIR/tls): context "tls"
#   ssh     an OpenSSH server on 127.0.0.1:2222 (key authentication) in front
#           of the modern engine: context "ssh" (ssh://docker-workspace-ssh,
#           a Host block this script adds to ~/.ssh/config)
#   legacy  Engine 20.10 (Debian 12), API 1.41, unix:///var/run/docker-legacy.sock
#           context "legacy", its own bridge br-legacy
#   swarm   (only when named) a real 3-node Docker Swarm on this one machine:
#           three Engine 28.5 daemons sw1, sw2, sw3 (the modern engine's
#           binaries), each in its own network namespace dw-swN (address
#           172.31.0.1N on the host bridge br-swarm, 172.31.0.1/24) and its
#           own UTS namespace (hostname swN), on unix:///var/run/docker-swN.sock,
#           its state in $ENGINES_DIR/swarm/swN. sw1 is the only manager
#           (heartbeat 2s), sw2 and sw3 workers. Contexts "swarm" (the manager)
#           and "sw1", "sw2", "sw3" (each node's engine); each node carries the
#           label docker-workspace.engine=swN (the context of its engine). The
#           daemons run with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: a task uses
#           the node's local image and never tries a pull (there is no registry).
#
# and the test image agent/workspace:latest on each, built offline from static
# busybox (compose/image/Dockerfile.busybox). It is idempotent: an engine that already answers is
# used as it is and never restarted; only what is missing is installed/started.
# The swarm is used as it is when sw1 answers as the manager of 3 Ready nodes;
# anything less (a half rig left by a killed run) is cleared and made afresh.
#
# Usage: scripts/engines.sh [up|down|status] [modern|legacy|ssh|swarm...]
#        scripts/engines.sh swarm-node kill|start N
#   up      (default) bring up the named engines (default: modern legacy ssh)
#   down    stop the daemons that this script started (never any other): all
#           of them, or only those named; the swarm goes as a whole (its
#           daemons, the shims and containers they left, mounts, namespaces,
#           veths, bridge, FORWARD rule and the nodes' state)
#   status  print what answers where
#   swarm-node kill N   SIGKILL node N's dockerd (a crash: the shims of its
#                       containers survive it, as they would) and wait until
#                       it is gone
#   swarm-node start N  start node N's dockerd again as before (same state,
#                       namespaces, socket, environment) and wait until its
#                       node is Ready on the manager
#
# Environment: ENGINES_DIR (state, default /var/lib/docker-workspace/engines),
# MODERN_SOCK, LEGACY_SOCK (socket paths), DOCKER_CONFIG (where contexts go),
# ENGINES_STARTED (a file: `up` (and `swarm-node start`) appends "NAME PID" of
# each daemon it starts, and `down` then stops only those; .ci/run uses it).
set -euo pipefail

ENGINES_DIR=${ENGINES_DIR:-/var/lib/docker-workspace/engines}
MODERN_SOCK=${MODERN_SOCK:-/var/run/docker.sock}
LEGACY_SOCK=${LEGACY_SOCK:-/var/run/docker-legacy.sock}
IMAGE=agent/workspace:latest
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'engines: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

TLS_ADDR=${TLS_ADDR:-127.0.0.1:2376}
SSH_PORT=${SSH_PORT:-2222}
SSH_ALIAS=docker-workspace-ssh

host_of() {
	case $1 in
	modern | ssh) echo "unix://$MODERN_SOCK" ;;
	legacy) echo "unix://$LEGACY_SOCK" ;;
	swarm) echo "unix:///var/run/docker-sw1.sock" ;; # the manager
	sw[1-3]) echo "unix:///var/run/docker-$1.sock" ;;
	esac
}

# answers ENGINE: the engine's API version on stdout when it answers.
answers() {
	DOCKER_CONTEXT= timeout 10 docker -H "$(host_of "$1")" version --format '{{.Server.APIVersion}}' 2>/dev/null
}

need_root() {
	[ "$(id -u)" = 0 ] || die "no $1 engine answers on $(host_of "$1"), and bringing one up needs root (apt-get, dockerd); run this as root or start an engine there yourself"
	command -v apt-get >/dev/null || die "no $1 engine answers on $(host_of "$1"), and this machine has no apt-get to install one; start an engine there yourself"
}

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		say "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	say "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian 12's engine (20.10), its runc, containerd and tini (docker-init), and
# static busybox for the test image, python3 for the gateway example. The
# modern engine reuses runc and tini.
install_base() {
	local missing=()
	[ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ] || missing+=(docker.io)
	command -v runc >/dev/null || missing+=(runc)
	command -v busybox >/dev/null || [ -x /bin/busybox ] || missing+=(busybox-static)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v pgrep >/dev/null || missing+=(procps) # the swarm's clean-up
	command -v python3 >/dev/null || missing+=(python3) # the gateway example's e2e
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# Engine 28.5 from Debian testing, extracted into $ENGINES_DIR/modern without
# touching the machine's own package lists.
install_modern() {
	local dir=$ENGINES_DIR/modern
	if [ -x "$dir/usr/sbin/dockerd" ] && [ -x "$dir/usr/bin/containerd" ]; then
		return
	fi
	local uri
	uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	[ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$uri" ] || die "cannot find the Debian mirror in the machine's apt configuration"
	local apt=$ENGINES_DIR/apt
	mkdir -p "$apt/lists/partial" "$apt/debs" "$dir"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri forky main" >"$apt/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::archives=$apt/debs" -o APT::Sandbox::User=root)
	say "fetching Engine 28.5 and Compose from Debian testing"
	apt-get "${opts[@]}" update -qq >/dev/null
	(cd "$apt/debs" && apt-get "${opts[@]}" download -qq docker.io/forky containerd/forky \
		docker-compose/forky docker-buildx/forky >/dev/null)
	local deb
	for deb in "$apt/debs"/*.deb; do dpkg -x "$deb" "$dir"; done
	[ -x "$dir/usr/sbin/dockerd" ] || die "the Debian testing docker.io package holds no usr/sbin/dockerd"
	"$dir/usr/sbin/dockerd" --version >/dev/null 2>&1 ||
		die "Debian testing's dockerd does not run on this machine (newer glibc?); see ../shared/ENGINES.md for the Debian 13 fallback"
}

install_cli_plugins() {
	local dir=$ENGINES_DIR/modern plugins=/usr/local/lib/docker/cli-plugins p
	mkdir -p "$plugins"
	for p in docker-compose docker-buildx; do
		local src
		src=$(find "$dir/usr/libexec/docker/cli-plugins" "$dir/usr/lib/docker/cli-plugins" -name "$p" 2>/dev/null | head -n1 || true)
		[ -n "$src" ] && [ ! -e "$plugins/$p" ] && cp "$src" "$plugins/$p"
	done
	return 0
}

# start_daemon NAME PATH_PREFIX ARGS...: detached, all streams away from us.
start_daemon() {
	local name=$1 prefix=$2
	shift 2
	local run=$ENGINES_DIR/run
	mkdir -p "$run"
	say "starting the $name engine (log: $run/$name.log)"
	PATH="${prefix:+$prefix:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		setsid dockerd "$@" </dev/null >"$run/$name.log" 2>&1 &
	started "$name" $!
}

# started NAME PID: the bookkeeping that lets `down` stop it.
started() {
	echo "$2" >"$ENGINES_DIR/run/$1.started"
	[ -z "${ENGINES_STARTED:-}" ] || echo "$1 $2" >>"$ENGINES_STARTED"
}

wait_answer() {
	local name=$1 i
	for i in $(seq 1 120); do
		if v=$(answers "$name"); then
			say "$name engine answers on $(host_of "$name"): API $v"
			return 0
		fi
		if [ -f "$ENGINES_DIR/run/$name.started" ] && ! kill -0 "$(cat "$ENGINES_DIR/run/$name.started")" 2>/dev/null; then
			tail -n 20 "$ENGINES_DIR/run/$name.log" >&2 || true
			die "the $name engine exited while starting"
		fi
		sleep 0.5
	done
	tail -n 20 "$ENGINES_DIR/run/$name.log" >&2 || true
	die "the $name engine did not answer on $(host_of "$name") within 60s"
}

# make_tls: a CA, a server certificate for 127.0.0.1 and a client one.
make_tls() {
	local d=$ENGINES_DIR/tls
	[ -f "$d/cert.pem" ] && return
	command -v openssl >/dev/null || apt_install openssl
	mkdir -p "$d"
	(
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=docker-workspace test CA" \
			-keyout ca-key.pem -out ca.pem 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile server.ext -out server-cert.pem 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=client" -keyout key.pem -out client.csr 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile client.ext -out cert.pem 2>/dev/null
		rm -f ./*.csr ./*.ext
		chmod 0600 ./*key.pem
	)
	say "made TLS certificates in $d"
}

up_modern() {
	if answers modern >/dev/null; then return; fi
	need_root modern
	install_base
	install_modern
	install_cli_plugins
	make_tls
	local dir=$ENGINES_DIR/modern tls=$ENGINES_DIR/tls
	start_daemon modern "$dir/usr/sbin:$dir/usr/bin" -H "unix://$MODERN_SOCK" \
		-H "tcp://$TLS_ADDR" --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/server-cert.pem" --tlskey "$tls/server-key.pem" \
		--pidfile "$ENGINES_DIR/run/modern.pid"
	wait_answer modern
}

# tls_context: the context "tls", when the modern engine listens with TLS.
tls_context() {
	local tls=$ENGINES_DIR/tls
	[ -f "$tls/cert.pem" ] || return 0
	if ! DOCKER_CONTEXT= docker -H "tcp://$TLS_ADDR" --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/cert.pem" \
		--tlskey "$tls/key.pem" version >/dev/null 2>&1; then
		say "the modern engine does not listen on tcp://$TLS_ADDR with TLS (it was not started by this script): no context tls"
		return 0
	fi
	ensure_context tls "tcp://$TLS_ADDR" ",ca=$tls/ca.pem,cert=$tls/cert.pem,key=$tls/key.pem"
}

# up_ssh: an OpenSSH server on loopback, key authentication, in front of the
# modern engine (the docker CLI's ssh helper runs `docker system dial-stdio`
# there).
up_ssh() {
	local d=$ENGINES_DIR/ssh
	if ! { [ -f "$d/sshd.pid" ] && kill -0 "$(cat "$d/sshd.pid")" 2>/dev/null; }; then
		need_root ssh
		[ -x /usr/sbin/sshd ] || apt_install openssh-server
		mkdir -p "$d" /run/sshd
		[ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N "" -f "$d/host_key"
		[ -f "$d/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C docker-workspace-e2e -f "$d/id_ed25519"
		cp "$d/id_ed25519.pub" "$d/authorized_keys"
		cat >"$d/sshd_config" <<-EOF
			Port $SSH_PORT
			ListenAddress 127.0.0.1
			HostKey $d/host_key
			PidFile $d/sshd.pid
			AuthorizedKeysFile $d/authorized_keys
			PermitRootLogin prohibit-password
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			SetEnv DOCKER_HOST=unix://$MODERN_SOCK
		EOF
		say "starting sshd on 127.0.0.1:$SSH_PORT"
		setsid /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" </dev/null >/dev/null 2>&1
		for _ in $(seq 1 20); do [ -f "$d/sshd.pid" ] && break; sleep 0.2; done
		[ -z "${ENGINES_STARTED:-}" ] || echo "sshd $(cat "$d/sshd.pid")" >>"$ENGINES_STARTED"
	fi
	echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	local cfg=$HOME/.ssh/config
	mkdir -p "$HOME/.ssh"
	chmod 0700 "$HOME/.ssh"
	if ! grep -q "^Host $SSH_ALIAS\$" "$cfg" 2>/dev/null; then
		cat >>"$cfg" <<-EOF

			# Added by docker-workspace scripts/engines.sh: the test sshd.
			Host $SSH_ALIAS
			  HostName 127.0.0.1
			  Port $SSH_PORT
			  User root
			  IdentityFile $d/id_ed25519
			  IdentitiesOnly yes
			  UserKnownHostsFile $d/known_hosts
			  StrictHostKeyChecking yes
		EOF
		chmod 0600 "$cfg"
	fi
	ensure_context ssh "ssh://$SSH_ALIAS"
	DOCKER_CONTEXT= docker --context ssh version --format '{{.Server.APIVersion}}' >/dev/null ||
		die "the ssh context does not reach the modern engine (log: $d/sshd.log)"
	say "ssh engine answers through ssh://$SSH_ALIAS"
}

up_legacy() {
	if answers legacy >/dev/null; then return; fi
	need_root legacy
	install_base
	if ! ip link show br-legacy >/dev/null 2>&1; then
		ip link add br-legacy type bridge
		ip addr add 172.29.0.1/16 dev br-legacy
		ip link set br-legacy up
	fi
	start_daemon legacy "" -H "unix://$LEGACY_SOCK" \
		--data-root /var/lib/docker-legacy --exec-root /var/run/docker-legacy \
		--pidfile "$ENGINES_DIR/run/legacy.pid" --bridge=br-legacy --iptables=false
	wait_answer legacy
}

# ensure_context NAME HOST [,ca=…,cert=…,key=…]
ensure_context() {
	local name=$1 host=$2 tls=${3:-} have
	have=$(docker context inspect "$name" --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
	if [ -z "$have" ]; then
		docker context create "$name" --description "docker-workspace test engine ($name)" \
			--docker "host=$host$tls" >/dev/null 2>&1
		say "created context $name -> $host"
	elif [ "$have" != "$host" ]; then
		say "context $name exists and points at $have, not $host; leaving it as it is"
	fi
}

# image_hash is a digest of the image definition: the image is rebuilt when
# it changes.
image_hash() {
	cat "$ROOT/compose/image/Dockerfile.busybox" "$ROOT/compose/image/passwd" "$ROOT/compose/image/group" | sha256sum | cut -c1-16
}

build_image() {
	local name=$1 host want have
	host=$(host_of "$name")
	want=$(image_hash)
	have=$(DOCKER_CONTEXT= docker -H "$host" image inspect "$IMAGE" \
		--format '{{index .Config.Labels "docker-workspace.image-definition"}}' 2>/dev/null || true)
	[ "$have" = "$want" ] && return
	local bb
	bb=$(command -v busybox || echo /bin/busybox)
	if command -v file >/dev/null && file -L "$bb" | grep -q dynamically; then
		die "$bb is dynamically linked; the image needs a static one (Debian: busybox-static)"
	fi
	local ctx
	ctx=$(mktemp -d)
	cp "$ROOT/compose/image/Dockerfile.busybox" "$ctx/Dockerfile"
	cp "$ROOT/compose/image/passwd" "$ROOT/compose/image/group" "$ctx/"
	cp "$bb" "$ctx/busybox"
	say "building $IMAGE on the $name engine"
	if ! DOCKER_CONTEXT= DOCKER_BUILDKIT=0 docker -H "$host" build -q -t "$IMAGE" \
		--label "docker-workspace.image-definition=$want" "$ctx" >"$ctx/build.log" 2>&1; then
		cat "$ctx/build.log" >&2
		die "building $IMAGE on the $name engine failed"
	fi
	rm -rf "$ctx"
}

# ---- swarm: three nodes on one machine (../shared/ENGINES.md, "A multi-node
# Swarm on one machine"). Node N (1..3) is the engine swN: network namespace
# dw-swN (veth veth-swN on the bridge br-swarm, address 172.31.0.1N), its own
# UTS namespace (hostname swN), socket /var/run/docker-swN.sock, state in
# $ENGINES_DIR/swarm/swN/{data,exec,dockerd.pid}, containers' cgroups under
# /dw-swN, log in $ENGINES_DIR/run/swN.log.
SWARM_BRIDGE=br-swarm
SWARM_NET=172.31.0 # the bridge is .1, node N is .1N
SWARM_NODES="1 2 3"

sw_dir() { echo "$ENGINES_DIR/swarm/sw$1"; }

# sw N ARGS...: the docker CLI against node N's engine.
sw() {
	local n=$1
	shift
	DOCKER_CONTEXT= timeout 30 docker -H "$(host_of "sw$n")" "$@"
}

# re STRING: STRING as an extended regular expression that matches itself.
re() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }

# node_dockerd N: the pid of node N's dockerd, whoever started it (found by
# its socket argument, so never a client talking to it).
node_dockerd() { pgrep -f -- "^([^ ]*/)?dockerd .*unix://$(re "/var/run/docker-sw$1.sock")( |\$)" || true; }

# node_containerd N: the containerd node N's dockerd runs (it normally dies
# with its dockerd).
node_containerd() { pgrep -f -- "^([^ ]*/)?containerd --config $(re "$(sw_dir "$1")/exec/containerd/")" || true; }

# node_shims N: node N's containerd shims (they outlive its dockerd).
node_shims() { pgrep -f -- "^([^ ]*/)?containerd-shim[^ ]* .*-address $(re "$(sw_dir "$1")/exec/")" || true; }

# gone PID...: wait (up to 10s) until none of them exists. A killed process
# stays a zombie until init reaps it (up to 2s on these VMs); a node's dockerd
# must be gone before it starts again, as dockerd refuses to start while the
# pid in its pidfile exists.
gone() {
	local _
	for _ in $(seq 1 100); do
		kill -0 "$@" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# start_node N: node N's dockerd, detached (setsid, all streams away from
# us), in a UTS namespace of its own (hostname swN, what `docker node ls`
# shows) and in the network namespace dw-swN. nsenter, NOT `ip netns exec`,
# which remounts /sys (dockerd then dies: "Devices cgroup isn't mounted").
# setsid, unshare, sh and nsenter all exec: $! is the dockerd.
start_node() {
	local n=$1 d bin=$ENGINES_DIR/modern run=$ENGINES_DIR/run
	d=$(sw_dir "$n")
	mkdir -p "$d/data" "$d/exec" "$run"
	# The pid a killed daemon left in its pidfile may still exist for a while
	# (a zombie until init reaps it): dockerd would refuse to start, and would
	# take that containerd for a running one.
	[ -n "$(node_dockerd "$n")" ] || rm -f "$d/dockerd.pid"
	[ -n "$(node_containerd "$n")" ] || rm -f "$d/exec/containerd/containerd.pid"
	say "starting the sw$n engine (log: $run/sw$n.log)"
	DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
		PATH="$bin/usr/sbin:$bin/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		setsid unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && ns=$1 && shift && exec nsenter --net="$ns" -- "$@"' \
		"sw$n" "/var/run/netns/dw-sw$n" dockerd -H "$(host_of "sw$n")" \
		--data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" --cgroup-parent "/dw-sw$n" \
		</dev/null >>"$run/sw$n.log" 2>&1 &
	started "sw$n" $!
}

# swarm_network: the bridge, the FORWARD rule (the host's FORWARD policy is
# DROP, and bridged frames go through it), a namespace and a veth per node.
swarm_network() {
	local n ns
	ip link add "$SWARM_BRIDGE" type bridge
	ip addr add "$SWARM_NET.1/24" dev "$SWARM_BRIDGE"
	ip link set "$SWARM_BRIDGE" up
	iptables -C FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null ||
		iptables -I FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT
	for n in $SWARM_NODES; do
		ns=dw-sw$n
		ip netns add "$ns"
		ip link add "veth-sw$n" type veth peer name eth0 netns "$ns"
		ip link set "veth-sw$n" master "$SWARM_BRIDGE" up
		ip -n "$ns" addr add "$SWARM_NET.1$n/24" dev eth0
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$SWARM_NET.1"
	done
}

# swarm_whole: sw1 answers as the manager of an active swarm of exactly 3
# Ready nodes, and every node's engine answers.
swarm_whole() {
	local n
	for n in $SWARM_NODES; do answers "sw$n" >/dev/null || return 1; done
	[ "$(sw 1 info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null)" = "active true" ] || return 1
	[ "$(sw 1 node ls --format '{{.Status}}' 2>/dev/null | tr '\n' ' ')" = "Ready Ready Ready " ]
}

# swarm_leftovers: whether anything of a swarm rig exists.
swarm_leftovers() {
	local n
	[ -e "$ENGINES_DIR/swarm" ] || ip link show "$SWARM_BRIDGE" >/dev/null 2>&1 ||
		iptables -C FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null && return 0
	for n in $SWARM_NODES; do
		[ -e "/var/run/netns/dw-sw$n" ] || [ -e "/var/run/docker-sw$n.sock" ] || ip link show "veth-sw$n" >/dev/null 2>&1 ||
			[ -n "$(node_dockerd "$n")$(node_shims "$n")" ] && return 0
	done
	return 1
}

# node_id N: node N's swarm node ID (from its own engine).
node_id() { sw "$1" info --format '{{.Swarm.NodeID}}'; }

# wait_node_ready N: until the manager sees node N Ready (60s at most).
wait_node_ready() {
	local n=$1 id st=
	id=$(node_id "$n")
	[ -n "$id" ] || die "the sw$n engine is in no swarm"
	for _ in $(seq 1 120); do
		st=$(sw 1 node inspect "$id" --format '{{.Status.State}}' 2>/dev/null || true)
		[ "$st" = ready ] && return 0
		sleep 0.5
	done
	die "node sw$n ($id) is not Ready on the manager after 60s (state: ${st:-unknown})"
}

up_swarm() {
	if swarm_whole; then return 0; fi
	need_root swarm
	install_base
	install_modern
	if swarm_leftovers; then
		say "clearing what a previous swarm rig left"
		down_swarm
	fi
	local n
	swarm_network
	mkdir -p "$ENGINES_DIR/run"
	for n in $SWARM_NODES; do : >"$ENGINES_DIR/run/sw$n.log"; done # swarm-node start appends
	for n in $SWARM_NODES; do start_node "$n"; done
	for n in $SWARM_NODES; do wait_answer "sw$n"; done
	sw 1 swarm init --advertise-addr "$SWARM_NET.11" --dispatcher-heartbeat 2s >/dev/null ||
		die "swarm init on sw1 failed"
	local token pids=()
	token=$(sw 1 swarm join-token -q worker)
	for n in $SWARM_NODES; do
		[ "$n" = 1 ] && continue
		sw "$n" swarm join --token "$token" --advertise-addr "$SWARM_NET.1$n" "$SWARM_NET.11:2377" >/dev/null &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || die "a worker did not join the swarm (logs: $ENGINES_DIR/run/sw*.log)"; done
	for n in $SWARM_NODES; do wait_node_ready "$n"; done
	say "swarm: sw1 manages sw1, sw2, sw3, all Ready"
}

# swarm_apply: contexts, node labels and the test image, (re)applied each
# `up swarm`.
swarm_apply() {
	local n id want
	ensure_context swarm "$(host_of swarm)"
	for n in $SWARM_NODES; do ensure_context "sw$n" "$(host_of "sw$n")"; done
	for n in $SWARM_NODES; do
		id=$(node_id "$n")
		[ "$(sw 1 node inspect "$id" --format '{{index .Spec.Labels "docker-workspace.engine"}}')" = "sw$n" ] ||
			sw 1 node update --label-add "docker-workspace.engine=sw$n" "$id" >/dev/null
	done
	build_image sw1
	want=$(image_hash)
	for n in $SWARM_NODES; do
		[ "$n" = 1 ] && continue
		[ "$(sw "$n" image inspect "$IMAGE" --format '{{index .Config.Labels "docker-workspace.image-definition"}}' 2>/dev/null)" = "$want" ] &&
			continue
		say "copying $IMAGE from the sw1 engine to the sw$n engine"
		sw 1 save "$IMAGE" | sw "$n" load -q >/dev/null || die "copying $IMAGE to the sw$n engine failed"
	done
}

# down_swarm: all of the rig, whoever started its daemons: the daemons
# (SIGKILL: their state is test state and goes too), the shims they left and
# the containers these hold, the containers' cgroups, whatever is still
# mounted under the nodes' state (lazily), the namespaces (their veths go
# with them), the bridge, the FORWARD rule, the nodes' state and sockets.
down_swarm() {
	local n pids=() p top
	swarm_leftovers || return 0
	for n in $SWARM_NODES; do pids+=($(node_dockerd "$n") $(node_containerd "$n")); done
	if [ ${#pids[@]} -gt 0 ]; then
		say "killing the swarm nodes' engines (pids ${pids[*]})"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		gone "${pids[@]}" || die "the swarm nodes' engines (pids ${pids[*]}) do not exit"
	fi
	pids=()
	for n in $SWARM_NODES; do
		for p in $(node_shims "$n"); do pids+=("$p" $(pgrep -P "$p" || true)); done
	done
	if [ ${#pids[@]} -gt 0 ]; then
		say "killing the shims and containers the swarm nodes left (pids ${pids[*]})"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		gone "${pids[@]}" || die "the swarm nodes' shims (pids ${pids[*]}) do not exit"
	fi
	for n in $SWARM_NODES; do clear_cgroups "/dw-sw$n"; done
	if [ -d "$ENGINES_DIR/swarm" ]; then
		top=$(readlink -f "$ENGINES_DIR/swarm")
		for _ in 1 2 3; do
			p=$(awk -v top="$top/" 'index($2, top) == 1 { print $2 }' /proc/self/mounts | sort -r)
			[ -n "$p" ] || break
			echo "$p" | xargs -r -n1 umount -l 2>/dev/null || true
		done
	fi
	# Deleting a namespace takes its veth pair along, asynchronously: a veth
	# still seen may be gone by the time it is deleted.
	for n in $SWARM_NODES; do
		[ ! -e "/var/run/netns/dw-sw$n" ] || ip netns del "dw-sw$n"
	done
	for _ in $(seq 1 50); do
		local left=
		for n in $SWARM_NODES; do
			! ip link show "veth-sw$n" >/dev/null 2>&1 || { left=1; ip link del "veth-sw$n" 2>/dev/null || true; }
		done
		[ -n "$left" ] || break
		sleep 0.1
	done
	! ip link show "$SWARM_BRIDGE" >/dev/null 2>&1 || ip link del "$SWARM_BRIDGE"
	while iptables -D FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null; do :; done
	rm -rf --one-file-system "$ENGINES_DIR/swarm"
	for n in $SWARM_NODES; do rm -f "/var/run/docker-sw$n.sock" "$ENGINES_DIR/run/sw$n.started"; done
	say "swarm rig removed"
}

# clear_cgroups PARENT: kill what is left in the cgroups under PARENT (every
# hierarchy) and remove them.
clear_cgroups() {
	local dirs procs _
	dirs=$(find /sys/fs/cgroup/*"$1" -depth -type d 2>/dev/null || true)
	[ -n "$dirs" ] || return 0
	procs=$(echo "$dirs" | sed 's|$|/cgroup.procs|' | xargs -r cat 2>/dev/null | sort -u || true)
	[ -z "$procs" ] || kill -KILL $procs 2>/dev/null || true
	for _ in $(seq 1 50); do
		echo "$dirs" | xargs -r rmdir 2>/dev/null || true
		[ -z "$(find /sys/fs/cgroup/*"$1" -maxdepth 0 -type d 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	say "cgroups under $1 remain"
}

# swarm_node kill|start N: a crash of node N's engine, or its restart.
swarm_node() {
	local action=${1:-} n=${2:-} pid
	case $n in 1 | 2 | 3) ;; *) die "usage: $0 swarm-node kill|start 1|2|3" ;; esac
	case $action in
	kill)
		pid=$(node_dockerd "$n")
		if [ -z "$pid" ]; then
			say "the sw$n engine is not running"
			return 0
		fi
		# Its containerd would die with it anyway (dockerd gives it a
		# parent-death signal); the shims stay, as they do in a crash.
		local ctd
		ctd=$(node_containerd "$n")
		say "killing the sw$n engine (pid $pid) with SIGKILL"
		kill -KILL $pid $ctd 2>/dev/null || true
		gone $pid $ctd || die "the sw$n engine (pid $pid) does not exit"
		;;
	start)
		[ -e "/var/run/netns/dw-sw$n" ] && [ -d "$(sw_dir "$n")/data/swarm" ] ||
			die "there is no swarm rig to start sw$n in: run $0 up swarm"
		if ! answers "sw$n" >/dev/null; then
			[ -n "$(node_dockerd "$n")" ] || start_node "$n"
			wait_answer "sw$n"
		fi
		wait_node_ready "$n"
		say "node sw$n is Ready"
		;;
	*) die "usage: $0 swarm-node kill|start 1|2|3" ;;
	esac
}

stop_daemon() {
	local name=$1 pid=$2
	if kill -0 "$pid" 2>/dev/null; then
		say "stopping the $name engine (pid $pid)"
		kill "$pid"
		for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	fi
	rm -f "$ENGINES_DIR/run/$name.started"
}

# down [NAME...]: stop what this script started (all of it, or only the
# engines named: modern, legacy, ssh, swarm).
down() {
	local only=" $* " name pid swarm= keep
	for name in "$@"; do
		case $name in modern | legacy | ssh | swarm) ;; *) die "unknown engine $name (modern, legacy, ssh, swarm)" ;; esac
	done
	asked() { [ "$only" = "  " ] || [[ $only == *" $1 "* ]]; }
	if [ -n "${ENGINES_STARTED:-}" ]; then
		[ -f "$ENGINES_STARTED" ] || return 0
		keep=$(mktemp)
		while read -r name pid; do
			case $name in
			sw[1-3]) if asked swarm; then swarm=1; else echo "$name $pid" >>"$keep"; fi ;;
			sshd) if asked ssh; then stop_daemon "$name" "$pid"; else echo "$name $pid" >>"$keep"; fi ;;
			*) if asked "$name"; then stop_daemon "$name" "$pid"; else echo "$name $pid" >>"$keep"; fi ;;
			esac
		done <"$ENGINES_STARTED"
		[ -z "$swarm" ] || down_swarm
		cat "$keep" >"$ENGINES_STARTED"
		rm -f "$keep"
		return 0
	fi
	for name in legacy modern; do
		asked "$name" || continue
		[ -f "$ENGINES_DIR/run/$name.started" ] || continue
		stop_daemon "$name" "$(cat "$ENGINES_DIR/run/$name.started")"
	done
	if asked ssh && [ -f "$ENGINES_DIR/ssh/sshd.pid" ]; then
		stop_daemon sshd "$(cat "$ENGINES_DIR/ssh/sshd.pid")"
	fi
	! asked swarm || down_swarm
}

status() {
	local name v n nodes
	for name in modern legacy; do
		if v=$(answers "$name"); then
			echo "$name $(host_of "$name") API $v"
		else
			echo "$name $(host_of "$name") not answering"
		fi
	done
	for n in $SWARM_NODES; do
		if v=$(answers "sw$n"); then
			echo "sw$n $(host_of "sw$n") API $v $(sw "$n" info --format \
				'hostname {{.Name}}, swarm {{.Swarm.LocalNodeState}}{{if .Swarm.ControlAvailable}} (manager){{end}} {{.Swarm.NodeID}}' 2>/dev/null || true)"
		else
			echo "sw$n $(host_of "sw$n") not answering"
		fi
	done
	if nodes=$(sw 1 node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null) && [ -n "$nodes" ]; then
		echo "swarm $(host_of swarm) nodes: $(echo "$nodes" | paste -sd, - | sed 's/,/, /g')"
	fi
}

cmd=${1:-up}
[ $# -gt 0 ] && shift

case $cmd in
up)
	which=("$@")
	[ ${#which[@]} -gt 0 ] || which=(modern legacy ssh)
	for name in "${which[@]}"; do
		case $name in
		modern) up_modern; ensure_context modern "$(host_of modern)"; tls_context; build_image modern ;;
		legacy) up_legacy; ensure_context legacy "$(host_of legacy)"; build_image legacy ;;
		ssh) up_modern; up_ssh ;;
		swarm) up_swarm; swarm_apply ;;
		*) die "unknown engine $name (modern, legacy, ssh, swarm)" ;;
		esac
	done
	;;
down) down "$@" ;;
status) status ;;
swarm-node) swarm_node "$@" ;;
*) die "usage: $0 [up|down|status] [modern|legacy|ssh|swarm...] | $0 swarm-node kill|start N" ;;
esac
