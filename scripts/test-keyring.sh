#!/bin/sh
# Runs the keyring tests against a real Secret Service: gnome-keyring in a
# private D-Bus session, with a throwaway login keyring unlocked by a fixed password.
# Needs the Debian packages dbus and gnome-keyring (.ci/run installs them).
set -eu
cd "$(dirname "$0")/.."
# a throwaway HOME for the keyring files; Go keeps its caches
export GOMODCACHE="$(go env GOMODCACHE)" GOCACHE="$(go env GOCACHE)" GOPATH="$(go env GOPATH)"
export HOME="$(mktemp -d)"
exec dbus-run-session -- sh -c '
	printf "claude-secure-ci" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
	CLAUDE_SECURE_TEST_SECRET_SERVICE=1 go test -count=1 -run "TestSecretServiceKeyring|TestConcurrentFirstRuns" -v ./mask/store/
'
