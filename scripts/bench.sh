#!/bin/sh
# Benchmarks for docs/performance.md. Everything is measured in one run on
# this machine, with its baseline: Go benchmarks (medians of -count runs),
# `claude-secure mask` as a whole process on a 64 MB mixed file, memory as
# input grows, and a whole process against a store with 100,000 mappings.
# Usage: scripts/bench.sh [count]   (default 6)
set -eu
cd "$(dirname "$0")/.."
count=${1:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CLAUDE_SECURE_HOME="$work/state"
export CLAUDE_SECURE_KEY=$(head -c 32 /dev/urandom | base64)

echo "== go test -bench (count=$count)"
go test ./mask -run '^$' -bench . -benchtime 1s -count "$count" | tee "$work/bench.txt" | grep -E '^Benchmark' || true
python3 - "$work/bench.txt" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(Benchmark\S+)-\d+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) MB/s', line)
    if m:
        rows.setdefault(m.group(1), []).append(float(m.group(3)))
base = statistics.median(rows.get('BenchmarkNaiveRegexpBaseline', [1]))
print("\nmedian MB/s (ratio to the naive regexp baseline):")
for k, v in rows.items():
    med = statistics.median(v)
    print(f"  {k:34s} {med:9.1f} MB/s  x{med/base:8.1f}")
PY

echo "\n== proxy: direct, through a plain forwarding hop, through the proxy (count=3)"
{
	go test ./proxy -run '^$' -bench 'TimeToFirstByte|Request1MB|Stream2000Events/burst|UnmaskEvents' -benchtime 300x -count 3
	go test ./proxy -run '^$' -bench 'Stream2000Events/paced' -benchtime 20x -count 3
	go test ./proxy -run '^$' -bench 'SSE100MB' -benchtime 1x -count 3
} > "$work/proxy.txt"
python3 - "$work/proxy.txt" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(Benchmark\S+?)-\d+\s+\d+\s+(.*)$', line)
    if not m:
        continue
    for val, unit in re.findall(r'([\d.]+) (\S+)', m.group(2)):
        if unit in ('p50-µs', 'ns/event', 'peak-heap-MiB'):
            rows.setdefault((m.group(1), unit), []).append(float(val))
print("median of 3 runs:")
for (name, unit), v in rows.items():
    print(f"  {name:50s} {statistics.median(v):10.1f} {unit}")
PY

go build -o "$work/claude-secure" ./cmd/claude-secure
bin="$work/claude-secure"

echo "\n== claude-secure mask, whole process, 64 MB mixed file"
python3 - "$work" "$(go env GOROOT)" <<'PY'
import os, sys, glob
work, goroot = sys.argv[1], sys.argv[2]
parts = [open(f, 'rb').read() for f in sorted(glob.glob('mask/testdata/fixtures/*')) if not f.endswith('.secrets')]
parts.append(open('mask/testdata/request-1mb.json', 'rb').read())
for f in sorted(glob.glob(os.path.join(goroot, 'src/net/http/*.go'))):
    parts.append(open(f, 'rb').read())
blob = b'\n'.join(parts)
for size in (16, 64):
    with open(os.path.join(work, f'mixed-{size}.txt'), 'wb') as out:
        n = 0
        while n < size << 20:
            out.write(blob); n += len(blob)
PY
"$bin" mask < "$work/mixed-64.txt" > /dev/null   # first run issues the pseudonyms
for i in 1 2 3 4 5; do
	/usr/bin/time -f "%e %M" "$bin" mask < "$work/mixed-64.txt" 2>>"$work/t64" > /dev/null
	/usr/bin/time -f "%e %M" "$bin" mask < "$work/mixed-16.txt" 2>>"$work/t16" > /dev/null
done
python3 - "$work" <<'PY'
import os, statistics, sys
work = sys.argv[1]
for size in (16, 64):
    rows = [l.split() for l in open(os.path.join(work, f't{size}')) if l.strip()]
    secs = statistics.median(float(r[0]) for r in rows)
    rss = statistics.median(int(r[1]) for r in rows)
    mb = os.path.getsize(os.path.join(work, f'mixed-{size}.txt')) / 1e6
    print(f"  {size} MB input: median {secs:.3f} s = {mb/secs:.0f} MB/s, max RSS {rss/1024:.1f} MiB")
PY

echo "\n== a store with 100,000 mappings: whole process masking 1 KB"
python3 - "$work" <<'PY'
import sys
with open(sys.argv[1] + '/ids.txt', 'w') as f:
    for i in range(100000):
        f.write('i-%017x 10.%d.%d.%d\n' % (0x5ca1ab1e000 + i, (i >> 16) & 255, (i >> 8) & 255, i & 255) if i % 2 else 'vpc-%08x\n' % i)
PY
"$bin" mask < "$work/ids.txt" > /dev/null
"$bin" store info | grep -E 'mappings|size'
head -c 1024 mask/testdata/fixtures/prose.md > "$work/1k.txt"
for i in 1 2 3 4 5 6 7; do
	/usr/bin/time -f "%e" "$bin" mask < "$work/1k.txt" 2>>"$work/tstore" > /dev/null
done
python3 -c "
import statistics
v=[float(l) for l in open('$work/tstore') if l.strip()]
print(f'  median {statistics.median(v)*1000:.0f} ms over {len(v)} runs (min {min(v)*1000:.0f} ms, max {max(v)*1000:.0f} ms)')"
