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
#
# and the test image agent/workspace:latest on each, built offline from static
# busybox (compose/image/Dockerfile.busybox). It is idempotent: an engine that already answers is
# used as it is and never restarted; only what is missing is installed/started.
#
# Usage: scripts/engines.sh [up|down|status] [modern|legacy|ssh...]
#   up      (default) bring up the named engines (default: all three)
#   down    stop the daemons that this script started (never any other)
#   status  print what answers where
#
# Environment: ENGINES_DIR (state, default /var/lib/docker-workspace/engines),
# MODERN_SOCK, LEGACY_SOCK (socket paths), DOCKER_CONFIG (where contexts go),
# ENGINES_STARTED (a file: `up` appends "NAME PID" of each daemon it starts,
# and `down` then stops only those; .ci/run uses it).
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

host_of() { case $1 in modern | ssh) echo "unix://$MODERN_SOCK" ;; legacy) echo "unix://$LEGACY_SOCK" ;; esac; }

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
	echo $! >"$run/$name.started"
	[ -z "${ENGINES_STARTED:-}" ] || echo "$name $!" >>"$ENGINES_STARTED"
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

stop_daemon() {
	local name=$1 pid=$2
	if kill -0 "$pid" 2>/dev/null; then
		say "stopping the $name engine (pid $pid)"
		kill "$pid"
		for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	fi
	rm -f "$ENGINES_DIR/run/$name.started"
}

down() {
	local name pid
	if [ -n "${ENGINES_STARTED:-}" ]; then
		[ -f "$ENGINES_STARTED" ] || return 0
		while read -r name pid; do stop_daemon "$name" "$pid"; done <"$ENGINES_STARTED"
		: >"$ENGINES_STARTED"
		return 0
	fi
	for name in legacy modern; do
		[ -f "$ENGINES_DIR/run/$name.started" ] || continue
		stop_daemon "$name" "$(cat "$ENGINES_DIR/run/$name.started")"
	done
	if [ -f "$ENGINES_DIR/ssh/sshd.pid" ]; then
		stop_daemon sshd "$(cat "$ENGINES_DIR/ssh/sshd.pid")"
	fi
}

status() {
	local name v
	for name in modern legacy; do
		if v=$(answers "$name"); then
			echo "$name $(host_of "$name") API $v"
		else
			echo "$name $(host_of "$name") not answering"
		fi
	done
}

cmd=${1:-up}
[ $# -gt 0 ] && shift
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(modern legacy ssh)

case $cmd in
up)
	for name in "${which[@]}"; do
		case $name in
		modern) up_modern; ensure_context modern "$(host_of modern)"; tls_context; build_image modern ;;
		legacy) up_legacy; ensure_context legacy "$(host_of legacy)"; build_image legacy ;;
		ssh) up_modern; up_ssh ;;
		*) die "unknown engine $name (modern, legacy, ssh)" ;;
		esac
	done
	;;
down) down ;;
status) status ;;
*) die "usage: $0 [up|down|status] [modern|legacy...]" ;;
esac
