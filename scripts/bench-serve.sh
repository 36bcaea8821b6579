#!/usr/bin/env bash
# docker workspace serve against what it stands for, on the modern test
# engine (scripts/engines.sh up modern):
#   a warm ensure through the server   against the library's warm Ensure plus
#                                      one HTTP round trip on a unix socket
#   a buffered exec of `true` through  against docker exec
#
#   scripts/bench-serve.sh [N]      N rounds (default 60), interleaved
#
# Prints the median of each (ms) and the two ratios (targets: ≤ 1.1 both).
set -euo pipefail
N=${1:-60}
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkServe$' -benchtime "${N}x" -count 1 ./e2e/ | grep -E 'Benchmark|ok|FAIL'
