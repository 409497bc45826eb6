#!/usr/bin/env bash
# Interleaved A/B runs of one ./integration benchmark at two git revisions,
# for a machine too noisy for runs taken minutes apart to be compared.
#
#   scripts/bench-ab.sh OLD NEW [ROUNDS] [BENCH]
#
# Builds the integration test binary at OLD and at NEW, both with NEW's
# streaming_bench_test.go (the same harness), then runs them in turn ROUNDS
# times (default 5) and prints one line per run, ending in the CPU seconds
# the run took (user + system, client processes included): on a loaded
# machine latency tails follow the load, CPU time much less. BENCH defaults
# to the 104-connection /streaming latency benchmark.
set -euo pipefail
old=$1 new=$2 rounds=${3:-5}
bench=${4:-'StreamingLatency/connections=104/flush=adaptive/clients=own'}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
cleanup() {
	for side in old new; do git -C "$root" worktree remove --force "$tmp/$side" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
for side in old new; do
	rev=$old
	[ "$side" = new ] && rev=$new
	git -C "$root" worktree add -q --detach "$tmp/$side" "$rev"
done
cp "$tmp/new/integration/streaming_bench_test.go" "$tmp/old/integration/"
for side in old new; do
	(cd "$tmp/$side" && go test -c -o "$tmp/$side.test" ./integration/)
done
cd "$root/integration"
for _ in $(seq "$rounds"); do
	for side in old new; do
		# TIMEFORMAT makes bash's time report the run's CPU seconds alone.
		{ TIMEFORMAT='%U %S'; time "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchtime 1x >"$tmp/out" 2>&1; } 2>"$tmp/cpu"
		cpu=$(awk '{printf "%.1f", $1 + $2}' "$tmp/cpu")
		grep '^Benchmark' "$tmp/out" | sed "s/^/$side /; s/\$/ $cpu cpu_s/"
	done
done
