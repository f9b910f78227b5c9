#!/bin/sh
# Load runs for docs/performance.md: the gateway on the file store against
# the gateway on a Redis store, and one replica against three on that
# Redis, with the same 200 streaming clients (scripts/loadtest). Each round
# runs the three set-ups one after another, in an order that turns from
# round to round, each with a fresh state directory and a fresh Redis
# (append-only file fsynced at every write), so every run's first requests
# bring new identifiers. Prints each set-up's medians over the rounds and,
# round by round, the Redis runs against the file store run of the same
# round. Any error fails the run.
# Usage: scripts/load-store.sh [rounds] [loadtest flags]
#        e.g. scripts/load-store.sh 5 -pace 20ms -duration 20s
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-5}
[ $# -gt 0 ] && shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/claude-secure" ./cmd/claude-secure
go build -o "$work/loadtest" ./scripts/loadtest
ulimit -n 65536 2>/dev/null || true
r=1
while [ "$r" -le "$rounds" ]; do
	# the order turns: no set-up always runs right after the same other
	case $(((r - 1) % 3)) in
	0) order="file:1 redis:1 redis:3" ;;
	1) order="redis:1 redis:3 file:1" ;;
	2) order="redis:3 file:1 redis:1" ;;
	esac
	for s in $order; do
		store=${s%:*}
		n=${s#*:}
		echo "== round $r: $store store, $n replica(s)"
		flag=""
		[ "$store" = redis ] && flag="-store redis"
		# its own status, not grep's: an error fails the script
		"$work/loadtest" -bin "$work/claude-secure" -baseline 0 $flag -replicas "$n" \
			-json "$work/r$r-$store-$n.json" "$@" >"$work/out.txt" || { cat "$work/out.txt"; exit 1; }
		grep -E '^\| through|CPU' "$work/out.txt"
	done
	r=$((r + 1))
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
setups = [("file", 1), ("redis", 1), ("redis", 3)]
runs = {s: [json.load(open(f"{work}/r{r}-{s[0]}-{s[1]}.json")) for r in range(1, rounds + 1)] for s in setups}
cols = ["req_per_s", "ttfb_p50_ms", "ttfb_p99_ms", "total_p50_ms", "total_p99_ms",
        "first_ttfb_p50_ms", "first_ttfb_p99_ms", "gateway_cpu_ms_per_request", "redis_cpu_us_per_request", "vmhwm_mib"]
print(f"\nmedians of {rounds} rounds (min-max):")
for s in setups:
    print(f"  {s[0]} store, {s[1]} replica(s):")
    for c in cols:
        v = [x[c] for x in runs[s]]
        print(f"    {c:28s} {statistics.median(v):9.1f}  ({min(v):.1f}-{max(v):.1f})")
print("\nround by round, against the file store's run of the same round (median, min-max):")
def paired(name, s, c, f):
    v = [f(a[c], b[c]) for a, b in zip(runs[s], runs[("file", 1)])]
    print(f"  {name:48s} {statistics.median(v):9.2f}  ({min(v):.2f} to {max(v):.2f})")
for s in [("redis", 1), ("redis", 3)]:
    tag = f"redis x{s[1]}"
    paired(f"{tag}: total p50, ms added", s, "total_p50_ms", lambda a, b: a - b)
    paired(f"{tag}: total p99, ms added", s, "total_p99_ms", lambda a, b: a - b)
    paired(f"{tag}: first requests' TTFB p99, ms added", s, "first_ttfb_p99_ms", lambda a, b: a - b)
    paired(f"{tag}: first requests' TTFB p99, ratio", s, "first_ttfb_p99_ms", lambda a, b: a / b)
    paired(f"{tag}: requests per second, ratio", s, "req_per_s", lambda a, b: a / b)
v = [a["req_per_s"] / b["req_per_s"] for a, b in zip(runs[("redis", 3)], runs[("redis", 1)])]
print(f"  {'3 replicas against 1, requests per second':48s} {statistics.median(v):9.2f}  ({min(v):.2f} to {max(v):.2f})")
PY
