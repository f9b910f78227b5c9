#!/bin/sh
# The whole test suite, with its set-up on a fresh machine: installs the
# Debian packages the keyring tests need (dbus, gnome-keyring), the Redis
# servers the shared-store tests start (redis-server, redis-sentinel), the Go
# modules, then checks formatting, runs go vet, every test with the race
# detector, the end-to-end test with the real Claude Code (installed from
# npm by scripts/e2e.sh), the release checks (goreleaser from the Go module
# proxy, scripts/release-check.sh), and the keyring tests against a real
# Secret Service.
#
# The release checks and the npm installs of the end-to-end test run in the
# background from the start, while the other checks run; the run waits for
# them, shows their output, and fails if they failed.
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
	check_jobs
}

tmp=$(mktemp -d)
trap 'stop_jobs; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Background jobs. `start NAME COMMAND...` runs COMMAND in the background,
# its output in $tmp/NAME.log and its exit status, once it ends, in
# $tmp/NAME.rc; `finish NAME` waits for it, shows its output, and ends the
# run if it failed; `check_jobs` ends the run as soon as a job has failed,
# with the job's output.
bg_jobs=""
start() {
	name=$1
	shift
	( rc=0; "$@" || rc=$?; echo "$rc" >"$tmp/$name.rc.new"; mv "$tmp/$name.rc.new" "$tmp/$name.rc"; exit "$rc" ) >"$tmp/$name.log" 2>&1 &
	eval "pid_$name=\$! started_$name=\$(date +%s)"
	bg_jobs="$bg_jobs $name"
}
finish() {
	eval "pid=\$pid_$1 started=\$started_$1"
	waited=$(date +%s)
	rc=0
	wait "$pid" || rc=$?
	rest=""
	for j in $bg_jobs; do
		[ "$j" = "$1" ] || rest="$rest $j"
	done
	bg_jobs=$rest
	cat "$tmp/$1.log"
	if [ "$rc" -ne 0 ]; then
		echo "$1 (in the background) failed, exit status $rc" >&2
		exit 1
	fi
	now=$(date +%s)
	echo "== $1 done in the background ($((now - started)) s, waited for it $((now - waited)) s)"
}
check_jobs() {
	for j in $bg_jobs; do
		if [ -f "$tmp/$j.rc" ] && [ "$(cat "$tmp/$j.rc")" != 0 ]; then
			finish "$j"
		fi
	done
}
# stop_jobs: ends every job still running, with the processes it started
stop_jobs() {
	for j in $bg_jobs; do
		[ ! -f "$tmp/$j.rc" ] || continue
		eval "pid=\$pid_$j"
		kill $(process_tree "$pid") 2>/dev/null || true
	done
}
# process_tree PID: PID and every process under it
process_tree() {
	echo "$1"
	for child in $(ps -e -o pid= -o ppid= | awk -v p="$1" '$2 == p { print $1 }'); do
		process_tree "$child"
	done
}

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

echo "== in the background: the release checks, and the npm installs of the end-to-end test"
start release scripts/release-check.sh
start npm scripts/e2e.sh install

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
# skipped test with the reason it gives (scripts/gotest-report.py). -vet=off:
# go vet has just run every analyzer on these packages and their tests, and
# go test's own vet (a subset of them) would analyse every dependency again
if ! go test -race -vet=off -count=1 -json ./... 2>&1 | python3 scripts/gotest-report.py; then
	exit 1
fi
took "go test -race"

echo "== end to end with the real Claude Code"
finish npm
scripts/e2e.sh
took "end to end"

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
echo "== release: goreleaser check, snapshot build of six targets, installer"
finish release
took "release checks (waiting for them)"

printf '== all passed in %s s\n%s' "$(($(date +%s) - begin))" "$summary"
