#!/bin/sh
# The whole test suite, with its set-up on a fresh machine: installs the
# Debian packages the keyring tests need (dbus, gnome-keyring), the Redis
# servers the shared-store tests start (redis-server, redis-sentinel), the Go
# modules, then checks formatting, runs go vet, every test with the race
# detector, the end-to-end test with the real Claude Code (installed from
# npm by scripts/e2e.sh), the release checks (goreleaser from the Go module
# proxy, scripts/release-check.sh), and the keyring tests against a real
# Secret Service.
set -eu
cd "$(dirname "$0")/.."

# took PHASE: prints how long PHASE took (since the previous call) and keeps
# it for the summary at the end
begin=$(date +%s)
mark=$begin
summary=""
took() {
	now=$(date +%s)
	echo "== $1 ($((now - mark)) s)"
	summary="$summary$(printf '%6s s  %s' "$((now - mark))" "$1")
"
	mark=$now
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need=""
command -v dbus-run-session >/dev/null 2>&1 || need="$need dbus"
command -v gnome-keyring-daemon >/dev/null 2>&1 || need="$need gnome-keyring"
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
command -v redis-sentinel >/dev/null 2>&1 || need="$need redis-sentinel"
if [ -n "$need" ]; then
	echo "== installing$need"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
	took "installing$need"
fi

# the Redis tests start their own redis-server and redis-sentinel processes
# on loopback; here they fail rather than skip when those are missing
export CLAUDE_SECURE_REQUIRE_REDIS=1

echo "== go mod download"
go mod download
took "go mod download"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
took "gofmt"

echo "== go vet"
go vet ./...
took "go vet"

echo "== go test -race"
# the failed tests' own output first, then each package's result and every
# skipped test with the reason it gives (scripts/gotest-report.py)
if ! go test -race -count=1 -json ./... 2>&1 | python3 scripts/gotest-report.py; then
	exit 1
fi
took "go test -race"

echo "== end to end with the real Claude Code"
scripts/e2e.sh
took "end to end"

echo "== release: goreleaser check, snapshot build of six targets, installer"
scripts/release-check.sh
took "release checks"

echo "== keyring tests against a real Secret Service"
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
	# the tests' own exit status, not that of a filter in a pipe
	rc=0
	scripts/test-keyring.sh >"$tmp/keyring.log" 2>&1 || rc=$?
	grep -v 'Failed to set fd limit' "$tmp/keyring.log" || true
	[ "$rc" -eq 0 ] || { echo "keyring tests failed (exit $rc)" >&2; exit 1; }
	took "keyring tests"
else
	echo "dbus-run-session or gnome-keyring-daemon is missing after the install step" >&2
	exit 1
fi
printf '== all passed in %s s\n%s' "$(($(date +%s) - begin))" "$summary"
