#!/bin/sh
# Tests scripts/install.sh against a local HTTP server serving a
# goreleaser snapshot (dist/): a good install, a tampered archive (refused,
# nothing installed), and an unknown platform (a clear message).
# Usage: scripts/test-install.sh [DIST]
set -eu
cd "$(dirname "$0")/.."
dist=${1:-dist}
[ -f "$dist/checksums.txt" ] || { echo "test-install: no $dist/checksums.txt; run goreleaser first" >&2; exit 1; }
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }

serve() { # DIR -> prints the base URL
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
	python3 -m http.server "$port" --bind 127.0.0.1 --directory "$1" >/dev/null 2>&1 &
	pids="$pids $!"
	for _ in $(seq 50); do
		python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/checksums.txt')" 2>/dev/null && break
		sleep 0.1
	done
	echo "http://127.0.0.1:$port"
}

passed=0
url=$(serve "$dist")

# a good install
CLAUDE_SECURE_DOWNLOAD_URL=$url CLAUDE_SECURE_INSTALL_DIR=$tmp/good PATH=/usr/bin:/bin sh scripts/install.sh 2>"$tmp/good.log" ||
	fail "good install failed: $(cat "$tmp/good.log")"
v=$("$tmp/good/claude-secure" version) || fail "installed binary does not run"
case $v in "claude-secure "*snapshot*) ;; *) fail "unexpected version: $v" ;; esac
grep -q "is not on your PATH" "$tmp/good.log" || fail "no PATH hint"
echo "ok  good install: $v"; passed=$((passed + 1))

# a tampered archive is refused and nothing is installed
mkdir "$tmp/bad"
cp "$dist"/checksums.txt "$dist"/*.tar.gz "$tmp/bad/"
for a in "$tmp"/bad/*.tar.gz; do
	printf 'X' | dd of="$a" bs=1 seek=200 conv=notrunc 2>/dev/null
done
bad=$(serve "$tmp/bad")
if CLAUDE_SECURE_DOWNLOAD_URL=$bad CLAUDE_SECURE_INSTALL_DIR=$tmp/badbin sh scripts/install.sh 2>"$tmp/bad.log"; then
	fail "a tampered archive was installed"
fi
grep -q "checksum mismatch" "$tmp/bad.log" || fail "no checksum message: $(cat "$tmp/bad.log")"
[ ! -e "$tmp/badbin/claude-secure" ] || fail "something was installed from a tampered archive"
echo "ok  tampered archive refused"; passed=$((passed + 1))

# an unknown platform gets a clear message
mkdir "$tmp/fake"
printf '#!/bin/sh\ncase "$1" in -s) echo Plan9 ;; *) echo mips ;; esac\n' >"$tmp/fake/uname"
chmod 755 "$tmp/fake/uname"
if PATH=$tmp/fake:$PATH CLAUDE_SECURE_DOWNLOAD_URL=$url CLAUDE_SECURE_INSTALL_DIR=$tmp/p9 sh scripts/install.sh 2>"$tmp/p9.log"; then
	fail "an unknown platform was accepted"
fi
grep -q "no claude-secure build for Plan9" "$tmp/p9.log" || fail "unclear message: $(cat "$tmp/p9.log")"
echo "ok  unknown platform refused"; passed=$((passed + 1))

echo "installer: $passed passed, 0 failed"
