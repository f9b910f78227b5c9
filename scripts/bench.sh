#!/bin/sh
# Benchmarks for docs/performance.md. Everything is measured in one run on
# this machine, with its baseline: Go benchmarks (medians of -count runs),
# the proxy's benchmarks, and `claude-secure mask` and `unmask` as whole
# processes against a store of 100,000 lines of identifiers (about 150,000
# mappings): 16 and 64 MB of mixed text, and opening the store to mask 1 KB.
# Usage: [BASELINE=<git ref>] scripts/bench.sh [count]   (default 6); with
# BASELINE, the whole-process runs are made with that revision too.
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
bins="new=$work/claude-secure"
if [ -n "${BASELINE:-}" ]; then
	# the same measurements with another revision's binary, in the same run
	git worktree add -q --detach "$work/baseline-src" "$BASELINE"
	(cd "$work/baseline-src" && go build -o "$work/claude-secure-baseline" ./cmd/claude-secure)
	git worktree remove --force "$work/baseline-src"
	bins="baseline=$work/claude-secure-baseline $bins"
fi

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
# 100,000 lines of instance IDs, VPC IDs and addresses: about 150,000 mappings
with open(os.path.join(work, 'ids.txt'), 'w') as f:
    for i in range(100000):
        f.write('i-%017x 10.%d.%d.%d\n' % (0x5ca1ab1e000 + i, (i >> 16) & 255, (i >> 8) & 255, i & 255) if i % 2 else 'vpc-%08x\n' % i)
PY
head -c 1024 mask/testdata/fixtures/prose.md > "$work/1k.txt"

# time.py runs: label, input, runs, command...: median wall time and max RSS
cat > "$work/time.py" <<'PY'
import os, statistics, subprocess, sys, time
label, inp, runs, cmd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
wall, rss = [], []
for _ in range(runs):
    with open(inp, 'rb') as f, open(os.devnull, 'wb') as null:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=f, stdout=null)
        _, status, ru = os.wait4(p.pid, 0)
        wall.append(time.perf_counter() - t)
        rss.append(ru.ru_maxrss)
        assert status == 0, f'{label}: exit status {status}'
mb = os.path.getsize(inp) / 1e6
med = statistics.median(wall)
rate = f'{mb/med:6.0f} MB/s' if mb > 1 else ''
print(f'  {label:34s} median {med*1000:8.1f} ms (min {min(wall)*1000:.1f}, max {max(wall)*1000:.1f}) {rate}  max RSS {statistics.median(rss)/1024:.1f} MiB')
PY

for pair in $bins; do
	name=${pair%%=*}
	bin=${pair#*=}
	export CLAUDE_SECURE_HOME="$work/state-$name"
	echo "\n== $name: a store with 100,000 lines of identifiers"
	"$bin" mask < "$work/ids.txt" > /dev/null
	"$bin" store info | grep -E 'mappings|size'
	"$bin" mask < "$work/mixed-64.txt" > "$work/masked-64.txt"   # issues the mixed file's pseudonyms
	"$bin" unmask < "$work/masked-64.txt" | cmp -s - "$work/mixed-64.txt" && echo "  unmask(mask(64 MB)) is the input, byte for byte"
	echo "== $name: whole process, that store (median of 5)"
	python3 "$work/time.py" "mask, 16 MB mixed" "$work/mixed-16.txt" 5 "$bin" mask
	python3 "$work/time.py" "mask, 64 MB mixed" "$work/mixed-64.txt" 5 "$bin" mask
	python3 "$work/time.py" "unmask, 64 MB masked" "$work/masked-64.txt" 5 "$bin" unmask
	python3 "$work/time.py" "mask, 1 KB (open + mask)" "$work/1k.txt" 11 "$bin" mask
done
