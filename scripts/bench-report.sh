# Sourced by the bench scripts: plugin_path NAME (the installed plugin's
# path, or NAME's error), now (nanoseconds), median() and report BASE
# NAME..., which prints the median of each array t_NAME (microseconds) in
# milliseconds and its ratio to that of t_BASE, then the rounds ($N), the
# engine and the cores.
plugin_path() {
	local p
	p=$(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "workspace"}}{{.Path}}{{end}}{{end}}' 2>/dev/null || true)
	[ -x "$p" ] || { echo "$1: the workspace plugin is not installed (make install)" >&2; exit 1; }
	echo "$p"
}
now() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
report() {
	local base name m
	eval "base=\$(median \"\${t_$1[@]}\")"
	printf '%-12s %8s %8s\n' "" "median" "ratio"
	for name in "$@"; do
		eval "m=\$(median \"\${t_$name[@]}\")"
		printf '%-12s %8s %8s\n' "$name" "$(awk -v a="$m" 'BEGIN {printf "%.1fms", a/1000}')" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2fx", a/b}')"
	done
	echo "($N rounds on $(docker version --format '{{.Server.Version}}'), $(nproc) cores)"
}
