#!/bin/sh
# Load run for docs/performance.md: 200 concurrent streaming clients, each
# with its own token, through a `claude-secure serve` process for a minute,
# against a fake Messages API on loopback; the same clients directly against
# the fake API first, as the baseline. Every answer is checked; any error
# fails the run.
# Usage: scripts/load.sh [loadtest flags]   e.g. -clients 50 -duration 10s
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/claude-secure" ./cmd/claude-secure
go build -o "$work/loadtest" ./scripts/loadtest
ulimit -n 65536 2>/dev/null || true
"$work/loadtest" -bin "$work/claude-secure" "$@"
