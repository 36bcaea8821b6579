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
#   swarm   (only when named) a real 4-node Docker Swarm on this one machine:
#           four daemons sw1..sw4, each in its own network namespace dw-swN
#           (address 172.31.0.1N on the host bridge br-swarm, 172.31.0.1/24)
#           and its own UTS namespace (hostname swN), on
#           unix:///var/run/docker-swN.sock, its state (data-root, exec-root,
#           pidfile, and so its own containerd) in $ENGINES_DIR/swarm/swN.
#           sw1, sw2, sw3 run Engine 28.5 (the modern engine's binaries); sw4
#           runs Debian 12's Engine 20.10, API 1.41 (the legacy engine's
#           binaries: its dockerd, containerd 1.6, runc, docker-proxy), with
#           the default docker0 bridge and iptables inside its own namespace:
#           a node on which no volume-subpath workspace may ever be placed.
#           sw1 is the only manager (heartbeat 2s), sw2..sw4 workers. Contexts
#           "swarm" (the manager) and "sw1".."sw4" (each node's engine); each
#           node carries the label docker-workspace.engine=swN (the context of
#           its engine). The daemons run with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1:
#           a task uses the node's local image and never tries a pull (there
#           is no registry).
#
# and the test image agent/workspace:latest on each, built offline from static
# busybox (compose/image/Dockerfile.busybox). It is idempotent: an engine that already answers is
# used as it is and never restarted; only what is missing is installed/started.
# The swarm is used as it is when sw1 answers as the manager of exactly the 4
# nodes sw1..sw4, all Ready. When sw1..sw3 are whole but sw4 is not (a swarm
# made before sw4 existed, or sw4 crashed), sw4 alone is (re)made and joined
# and the manager's stale entries for it removed: sw1..sw3, their state and
# their services are not touched. Anything less (a half rig left by a killed
# run) is cleared and made afresh.
#
# Usage: scripts/engines.sh [up|down|status] [modern|legacy|ssh|swarm...]
#        scripts/engines.sh swarm-node kill|start N   (N: 1..4, node swN)
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
	sw[1-4]) echo "unix:///var/run/docker-$1.sock" ;;
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
	cat "$ROOT/compose/image/Dockerfile.busybox" "$ROOT/compose/image/passwd" "$ROOT/compose/image/group" \
		"$ROOT/compose/image/nettools/main.go" | sha256sum | cut -c1-16
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
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$ctx/nettools" ./compose/image/nettools) ||
		die "building nettools (wget, nslookup) for $IMAGE failed"
	say "building $IMAGE on the $name engine"
	if ! DOCKER_CONTEXT= DOCKER_BUILDKIT=0 docker -H "$host" build -q -t "$IMAGE" \
		--label "docker-workspace.image-definition=$want" "$ctx" >"$ctx/build.log" 2>&1; then
		cat "$ctx/build.log" >&2
		die "building $IMAGE on the $name engine failed"
	fi
	rm -rf "$ctx"
}

# ---- swarm: four nodes on one machine (../shared/ENGINES.md, "A multi-node
# Swarm on one machine"). Node N (1..4) is the engine swN: network namespace
# dw-swN (veth veth-swN on the bridge br-swarm, address 172.31.0.1N), its own
# UTS namespace (hostname swN), socket /var/run/docker-swN.sock, state in
# $ENGINES_DIR/swarm/swN/{data,exec,dockerd.pid} (its containerd's too:
# exec/containerd, data/containerd), containers' cgroups under /dw-swN, log in
# $ENGINES_DIR/run/swN.log. sw1..sw3 (the core, made together) run Engine
# 28.5; sw4 runs Debian 12's Engine 20.10 and may be added to a whole core.
SWARM_BRIDGE=br-swarm
SWARM_NET=172.31.0 # the bridge is .1, node N is .1N
SWARM_NODES="1 2 3 4"
SWARM_CORE="1 2 3"
SWARM_LEGACY="4" # nodes that run Debian 12's Engine 20.10 (the legacy engine's binaries)

sw_dir() { echo "$ENGINES_DIR/swarm/sw$1"; }

# in_list WORD LIST: whether WORD is one of the words of LIST.
in_list() { [[ " $2 " == *" $1 "* ]]; }

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
# with its dockerd). Both engines start it with --config in their exec-root.
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
# setsid, unshare, sh and nsenter all exec: $! is the dockerd. A core node
# runs the modern engine's binaries (first on PATH; runc and docker-init are
# Debian 12's), a legacy node the system's, as the legacy engine does:
# Debian 12's dockerd 20.10, containerd 1.6 and its shim, runc, docker-proxy.
# Either starts a containerd of its own (config, socket and state under its
# exec-root and data-root) and owns the docker0 of its network namespace.
start_node() {
	local n=$1 d bin=$ENGINES_DIR/modern run=$ENGINES_DIR/run prefix
	d=$(sw_dir "$n")
	prefix="$bin/usr/sbin:$bin/usr/bin:"
	! in_list "$n" "$SWARM_LEGACY" || prefix=
	mkdir -p "$d/data" "$d/exec" "$run"
	# The pid a killed daemon left in its pidfile may still exist for a while
	# (a zombie until init reaps it): dockerd would refuse to start, and would
	# take that containerd for a running one.
	[ -n "$(node_dockerd "$n")" ] || rm -f "$d/dockerd.pid"
	[ -n "$(node_containerd "$n")" ] || rm -f "$d/exec/containerd/containerd.pid"
	local conf=()
	if in_list "$n" "$SWARM_LEGACY"; then
		# Engine 20.10 takes its ID from /etc/docker/key.json, the legacy
		# engine's: a key of its own, or the two are one engine to clients.
		printf '{"deprecated-key-path": "%s"}\n' "$d/key.json" >"$d/daemon.json"
		conf=(--config-file "$d/daemon.json")
	fi
	say "starting the sw$n engine (log: $run/sw$n.log)"
	DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
		PATH="$prefix/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		setsid unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && ns=$1 && shift && exec nsenter --net="$ns" -- "$@"' \
		"sw$n" "/var/run/netns/dw-sw$n" dockerd -H "$(host_of "sw$n")" \
		--data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" --cgroup-parent "/dw-sw$n" "${conf[@]}" \
		</dev/null >>"$run/sw$n.log" 2>&1 &
	started "sw$n" $!
}

# swarm_bridge: the bridge and the FORWARD rule (the host's FORWARD policy is
# DROP, and bridged frames go through it).
swarm_bridge() {
	ip link show "$SWARM_BRIDGE" >/dev/null 2>&1 || {
		ip link add "$SWARM_BRIDGE" type bridge
		ip addr add "$SWARM_NET.1/24" dev "$SWARM_BRIDGE"
		ip link set "$SWARM_BRIDGE" up
	}
	iptables -C FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null ||
		iptables -I FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT
}

# node_network N: node N's namespace and its veth on the bridge.
node_network() {
	local n=$1 ns=dw-sw$1
	ip netns add "$ns"
	ip link add "veth-sw$n" type veth peer name eth0 netns "$ns"
	ip link set "veth-sw$n" master "$SWARM_BRIDGE" up
	ip -n "$ns" addr add "$SWARM_NET.1$n/24" dev eth0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$SWARM_NET.1"
}

# swarm_state: whether sw1 answers as the manager of an active swarm; if so
# it sets NODE_ID (every node's, as its own engine tells it), SWARM_LIST (the
# manager's "ID STATUS" lines) and SWARM_READY (" N N ": the nodes that
# answer and are, by their own node ID, Ready on that manager). Docker CLI
# calls cost 0.1-0.5s each here: one round of them.
SWARM_LIST=
SWARM_READY=" "
swarm_state() {
	local n st
	SWARM_LIST=
	SWARM_READY=" "
	st=$(sw 1 info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}' 2>/dev/null) || return 1
	[[ $st == "active true "* ]] || return 1
	NODE_ID[1]=${st##* }
	SWARM_LIST=$(sw 1 node ls --format '{{.ID}} {{.Status}}' 2>/dev/null) || return 1
	node_ids $(printf '%s\n' $SWARM_NODES | grep -vx 1)
	for n in $SWARM_NODES; do
		[ -z "${NODE_ID[$n]}" ] || ! grep -qxF "${NODE_ID[$n]} Ready" <<<"$SWARM_LIST" || SWARM_READY+="$n "
	done
}

# all_ready N...: whether all these nodes were Ready at the last swarm_state.
all_ready() {
	local n
	for n in "$@"; do in_list "$n" "$SWARM_READY" || return 1; done
}

# swarm_whole: sw1 manages exactly the nodes sw1..sw4, all Ready.
swarm_whole() {
	swarm_state && all_ready $SWARM_NODES && [ "$(wc -l <<<"$SWARM_LIST")" -eq "$(wc -w <<<"$SWARM_NODES")" ]
}

# node_leftovers N: whether anything of node N exists.
node_leftovers() {
	local n=$1
	[ -e "$(sw_dir "$n")" ] || [ -e "/var/run/netns/dw-sw$n" ] || [ -e "/var/run/docker-sw$n.sock" ] ||
		ip link show "veth-sw$n" >/dev/null 2>&1 || [ -n "$(node_dockerd "$n")$(node_shims "$n")" ]
}

# swarm_leftovers: whether anything of a swarm rig exists.
swarm_leftovers() {
	local n
	[ -e "$ENGINES_DIR/swarm" ] || ip link show "$SWARM_BRIDGE" >/dev/null 2>&1 ||
		iptables -C FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null && return 0
	for n in $SWARM_NODES; do node_leftovers "$n" && return 0; done
	return 1
}

# node_ids N...: NODE_ID[N], node N's swarm node ID as its own engine tells
# it ("" when it does not answer or is in no swarm); the engines are asked
# at once.
declare -A NODE_ID=()
node_ids() {
	local n tmp pids=()
	tmp=$(mktemp -d)
	for n in "$@"; do
		sw "$n" info --format '{{.Swarm.NodeID}}' >"$tmp/$n" 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}" 2>/dev/null || true
	for n in "$@"; do NODE_ID[$n]=$(cat "$tmp/$n"); done
	rm -rf "$tmp"
}

# wait_ready N...: until the manager sees all these nodes Ready (60s at most).
wait_ready() {
	local n list= left=
	node_ids "$@"
	for n in "$@"; do [ -n "${NODE_ID[$n]}" ] || die "the sw$n engine is in no swarm"; done
	for _ in $(seq 1 240); do
		list=$(sw 1 node ls --format '{{.ID}} {{.Status}}' 2>/dev/null || true)
		left=
		for n in "$@"; do grep -qxF "${NODE_ID[$n]} Ready" <<<"$list" || left+=" sw$n"; done
		[ -n "$left" ] || return 0
		sleep 0.25
	done
	die "not Ready on the manager after 60s:$left"
}

# join_node N TOKEN: node N joins sw1's swarm as a worker (without
# --advertise-addr the join times out).
join_node() {
	sw "$1" swarm join --token "$2" --advertise-addr "$SWARM_NET.1$1" "$SWARM_NET.11:2377" >/dev/null
}

# forget_stale: remove from the manager the entries of our nodes' host names
# (swN) that are Down and none of our nodes' current node IDs: what a remade
# node leaves behind. Any other node is left alone, with a warning.
forget_stale() {
	local n ids=" " id host st others=
	for n in $SWARM_NODES; do
		[ -n "${NODE_ID[$n]:-}" ] || node_ids "$n"
		ids+="${NODE_ID[$n]} "
	done
	while read -r id host st; do
		in_list "$id" "$ids" && continue
		if [[ $host =~ ^sw[0-9]+$ ]] && in_list "${host#sw}" "$SWARM_NODES" && [ "$st" = Down ]; then
			say "removing the stale node entry $id ($host, $st) from the manager"
			sw 1 node rm --force "$id" >/dev/null || true
		else
			others+=" $host ($id, $st)"
		fi
	done < <(sw 1 node ls --format '{{.ID}} {{.Hostname}} {{.Status}}' 2>/dev/null)
	[ -z "$others" ] || say "warning: the swarm has nodes other than sw1..sw4:$others"
}

# add_node N: node N alone, (re)made from nothing and joined to the running
# swarm of the core (whatever was left of it goes first).
add_node() {
	local n=$1
	if node_leftovers "$n"; then
		say "clearing what is left of node sw$n"
		clear_nodes "$n"
	fi
	node_network "$n"
	: >"$ENGINES_DIR/run/sw$n.log"
	start_node "$n"
	wait_answer "sw$n"
	join_node "$n" "$(sw 1 swarm join-token -q worker)" ||
		die "sw$n did not join the swarm (log: $ENGINES_DIR/run/sw$n.log)"
	wait_ready "$n"
	say "node sw$n joined the swarm: $(sw "$n" version --format 'Engine {{.Server.Version}}, API {{.Server.APIVersion}}')"
}

up_swarm() {
	if swarm_whole; then return 0; fi
	need_root swarm
	install_base
	install_modern
	local n
	mkdir -p "$ENGINES_DIR/run"
	# (swarm_whole has just run swarm_state)
	if all_ready $SWARM_CORE; then
		# The core is whole (and may run other people's services): leave it
		# as it is and (re)make only the other nodes that are not Ready.
		for n in $SWARM_NODES; do
			all_ready "$n" || add_node "$n"
		done
		forget_stale
		return 0
	fi
	if swarm_leftovers; then
		say "clearing what a previous swarm rig left"
		down_swarm
	fi
	swarm_bridge
	for n in $SWARM_NODES; do node_network "$n"; done
	for n in $SWARM_NODES; do : >"$ENGINES_DIR/run/sw$n.log"; done # swarm-node start appends
	for n in $SWARM_NODES; do start_node "$n"; done
	for n in $SWARM_NODES; do wait_answer "sw$n"; done
	sw 1 swarm init --advertise-addr "$SWARM_NET.11" --dispatcher-heartbeat 2s >/dev/null ||
		die "swarm init on sw1 failed"
	local token pids=()
	token=$(sw 1 swarm join-token -q worker)
	for n in $SWARM_NODES; do
		[ "$n" = 1 ] && continue
		join_node "$n" "$token" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || die "a worker did not join the swarm (logs: $ENGINES_DIR/run/sw*.log)"; done
	wait_ready $SWARM_NODES
	say "swarm: sw1 manages sw$(echo $SWARM_NODES | sed 's/ /, sw/g'), all Ready"
}

# swarm_apply: contexts, node labels and the test image, (re)applied each
# `up swarm`.
swarm_apply() {
	local n name have ids=() labels want
	have=$(docker context ls --format '{{.Name}} {{.DockerEndpoint}}' 2>/dev/null || true)
	for name in swarm $(printf 'sw%s ' $SWARM_NODES); do
		grep -qxF "$name $(host_of "$name")" <<<"$have" || ensure_context "$name" "$(host_of "$name")"
	done
	for n in $SWARM_NODES; do
		[ -n "${NODE_ID[$n]:-}" ] || node_ids "$n"
		ids+=("${NODE_ID[$n]}")
	done
	labels=$(sw 1 node inspect "${ids[@]}" --format '{{.ID}} {{index .Spec.Labels "docker-workspace.engine"}}')
	for n in $SWARM_NODES; do
		grep -qxF "${NODE_ID[$n]} sw$n" <<<"$labels" ||
			sw 1 node update --label-add "docker-workspace.engine=sw$n" "${NODE_ID[$n]}" >/dev/null
	done
	build_image sw1
	want=$(image_hash)
	local todo=() pids=() tar
	for n in $SWARM_NODES; do
		[ "$n" = 1 ] && continue
		[ "$(sw "$n" image inspect "$IMAGE" --format '{{index .Config.Labels "docker-workspace.image-definition"}}' 2>/dev/null)" = "$want" ] ||
			todo+=("$n")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	say "copying $IMAGE from the sw1 engine to the $(printf 'sw%s ' "${todo[@]}")engine(s)"
	tar=$(mktemp)
	sw 1 save "$IMAGE" >"$tar" || die "docker save $IMAGE on the sw1 engine failed"
	for n in "${todo[@]}"; do
		sw "$n" load -q <"$tar" >/dev/null &
		pids+=($!)
	done
	for n in "${!todo[@]}"; do wait "${pids[$n]}" || die "copying $IMAGE to the sw${todo[$n]} engine failed"; done
	rm -f "$tar"
}

# unmount_under DIR: lazily unmount whatever is still mounted under DIR.
unmount_under() {
	local top p _
	[ -d "$1" ] || return 0
	top=$(readlink -f "$1")
	for _ in 1 2 3; do
		p=$(awk -v top="$top/" 'index($2, top) == 1 { print $2 }' /proc/self/mounts | sort -r)
		[ -n "$p" ] || break
		echo "$p" | xargs -r -n1 umount -l 2>/dev/null || true
	done
}

# clear_nodes N...: all of these nodes, whoever started their daemons: the
# daemons and their containerd (SIGKILL: their state is test state and goes
# too), the shims they left and the containers these hold, the containers'
# cgroups, whatever is still mounted under the nodes' state (lazily), the
# namespaces (their veths go with them), the nodes' state, sockets and
# bookkeeping. The bridge, the FORWARD rule and any other node stay.
clear_nodes() {
	local n pids=() p
	for n in "$@"; do pids+=($(node_dockerd "$n") $(node_containerd "$n")); done
	if [ ${#pids[@]} -gt 0 ]; then
		say "killing the engines of sw$(echo "$@" | sed 's/ /, sw/g') (pids ${pids[*]})"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		gone "${pids[@]}" || die "the swarm nodes' engines (pids ${pids[*]}) do not exit"
	fi
	pids=()
	for n in "$@"; do
		for p in $(node_shims "$n"); do pids+=("$p" $(pgrep -P "$p" || true)); done
	done
	if [ ${#pids[@]} -gt 0 ]; then
		say "killing the shims and containers the swarm nodes left (pids ${pids[*]})"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		gone "${pids[@]}" || die "the swarm nodes' shims (pids ${pids[*]}) do not exit"
	fi
	for n in "$@"; do
		clear_cgroups "/dw-sw$n"
		unmount_under "$(sw_dir "$n")"
	done
	# Deleting a namespace takes its veth pair along, asynchronously: a veth
	# still seen may be gone by the time it is deleted.
	for n in "$@"; do
		[ ! -e "/var/run/netns/dw-sw$n" ] || ip netns del "dw-sw$n"
	done
	for _ in $(seq 1 50); do
		local left=
		for n in "$@"; do
			! ip link show "veth-sw$n" >/dev/null 2>&1 || { left=1; ip link del "veth-sw$n" 2>/dev/null || true; }
		done
		[ -n "$left" ] || break
		sleep 0.1
	done
	for n in "$@"; do
		NODE_ID[$n]=
		[ ! -e "$(sw_dir "$n")" ] || rm -rf --one-file-system "$(sw_dir "$n")"
		rm -f "/var/run/docker-sw$n.sock" "$ENGINES_DIR/run/sw$n.started"
	done
}

# down_swarm: all of the rig (clear_nodes of every node), then the bridge,
# the FORWARD rule and the swarm's state directory.
down_swarm() {
	swarm_leftovers || return 0
	clear_nodes $SWARM_NODES
	unmount_under "$ENGINES_DIR/swarm"
	! ip link show "$SWARM_BRIDGE" >/dev/null 2>&1 || ip link del "$SWARM_BRIDGE"
	while iptables -D FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT 2>/dev/null; do :; done
	rm -rf --one-file-system "$ENGINES_DIR/swarm"
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
	local action=${1:-} n=${2:-} pid usage
	usage="usage: $0 swarm-node kill|start $(echo $SWARM_NODES | tr ' ' '|')"
	[ -n "$n" ] && in_list "$n" "$SWARM_NODES" || die "$usage"
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
		wait_ready "$n"
		say "node sw$n is Ready"
		;;
	*) die "$usage" ;;
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
			sw[1-4]) if asked swarm; then swarm=1; else echo "$name $pid" >>"$keep"; fi ;;
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
