#!/bin/sh
# Release checks: `goreleaser check`, a snapshot build of all six targets,
# and the installer against that snapshot. goreleaser is installed from the
# Go module proxy once and kept in $(go env GOPATH)/bin.
set -eu
cd "$(dirname "$0")/.."
want=2.15.1
gr="$(go env GOPATH)/bin/goreleaser"
if ! "$gr" --version 2>/dev/null | grep -q "$want"; then
	echo "== installing goreleaser v$want"
	t=$(date +%s)
	# its own code unoptimized (goreleaser's time goes to the go builds it
	# runs, and to compression and hashing in the standard library, which is
	# optimized as usual): a third less to compile; no debug information
	go install -ldflags='-s -w' -gcflags='all=-N -l' -gcflags='std=' "github.com/goreleaser/goreleaser/v2@v$want"
	echo "== installed goreleaser v$want ($(($(date +%s) - t)) s)"
fi
echo "== goreleaser check"
"$gr" check
echo "== goreleaser snapshot build"
t=$(date +%s)
"$gr" release --snapshot --clean --skip=publish >/tmp/goreleaser-snapshot.log 2>&1 || {
	tail -40 /tmp/goreleaser-snapshot.log
	exit 1
}
echo "== goreleaser snapshot build ($(($(date +%s) - t)) s)"
n=$(ls dist/*.tar.gz dist/*.zip 2>/dev/null | wc -l)
[ "$n" -eq 6 ] || { echo "release-check: expected 6 archives, got $n" >&2; exit 1; }
for t in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
	ls dist/*_"$t".* >/dev/null || { echo "release-check: no archive for $t" >&2; exit 1; }
done
echo "ok  six archives and checksums.txt"
a=$(ls dist/*_linux_amd64.tar.gz)
for f in claude-secure README.md LICENSE completions/claude-secure.bash completions/claude-secure.zsh completions/claude-secure.fish; do
	tar -tzf "$a" | grep -qx "$f" || { echo "release-check: $f missing from $a" >&2; exit 1; }
done
echo "ok  archives hold the binary, README, LICENSE and completions"
cask=dist/homebrew/Casks/claude-secure.rb
[ -f "$cask" ] || { echo "release-check: no Homebrew cask generated" >&2; exit 1; }
for t in darwin_amd64 darwin_arm64 linux_amd64 linux_arm64; do
	sum=$(grep "_${t}\.tar\.gz\$" dist/checksums.txt | cut -d' ' -f1)
	grep -q "sha256 \"$sum\"" "$cask" || { echo "release-check: cask checksum for $t does not match checksums.txt" >&2; exit 1; }
done
grep -q 'binary "claude-secure"' "$cask" && grep -q 'zsh_completion' "$cask" ||
	{ echo "release-check: cask lacks the binary or completions" >&2; exit 1; }
echo "ok  Homebrew cask: four platforms, checksums match, binary and completions"
scripts/test-install.sh dist
