#!/bin/sh
# The whole test suite: formatting, vet, unit and end-to-end tests with the
# race detector, and the keyring tests against a real Secret Service.
set -eu
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== keyring tests against a real Secret Service"
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
	scripts/test-keyring.sh 2>&1 | grep -v 'Failed to set fd limit'
else
	echo "dbus-run-session or gnome-keyring-daemon is missing: install the Debian packages dbus and gnome-keyring" >&2
	exit 1
fi
