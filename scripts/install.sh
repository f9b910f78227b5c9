#!/bin/sh
# Installs claude-secure from a GitHub release: downloads the archive for
# this OS and architecture and the release's checksums.txt, verifies the
# SHA-256, and puts the binary in ~/.local/bin (or the directory given).
#
#   curl -fsSL https://raw.githubusercontent.com/claude-secure/claude-secure/main/scripts/install.sh | sh
#   sh install.sh [-d DIR] [-v VERSION]
#
# Environment: CLAUDE_SECURE_VERSION (default: latest),
# CLAUDE_SECURE_INSTALL_DIR (default: ~/.local/bin),
# CLAUDE_SECURE_DOWNLOAD_URL (a directory holding checksums.txt and the
# archives, for mirrors; overrides the GitHub release URL).
set -eu

repo=claude-secure/claude-secure
version=${CLAUDE_SECURE_VERSION:-latest}
dir=${CLAUDE_SECURE_INSTALL_DIR:-${HOME:-}/.local/bin}

say() { printf 'claude-secure install: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	-d) [ $# -ge 2 ] || die "-d needs a directory"; dir=$2; shift 2 ;;
	-v) [ $# -ge 2 ] || die "-v needs a version"; version=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" 2>/dev/null || true; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done

case $(uname -s) in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) die "no claude-secure build for $(uname -s); build it with: go install github.com/$repo/cmd/claude-secure@latest" ;;
esac
case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) die "no claude-secure build for $(uname -m); build it with: go install github.com/$repo/cmd/claude-secure@latest" ;;
esac

if [ -n "${CLAUDE_SECURE_DOWNLOAD_URL:-}" ]; then
	base=${CLAUDE_SECURE_DOWNLOAD_URL%/}
elif [ "$version" = latest ]; then
	base=https://github.com/$repo/releases/latest/download
else
	base=https://github.com/$repo/releases/download/v${version#v}
fi

fetch() { # URL FILE
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL -o "$2" "$1"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$2" "$1"
	else
		die "neither curl nor wget is installed"
	fi
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d' ' -f1
	else
		die "neither sha256sum nor shasum is installed"
	fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch "$base/checksums.txt" "$tmp/checksums.txt" || die "could not download checksums.txt from $base"
line=$(grep "_${os}_${arch}\.tar\.gz\$" "$tmp/checksums.txt" | head -n 1) || true
[ -n "$line" ] || die "the release has no archive for ${os}/${arch}"
want=$(echo "$line" | cut -d' ' -f1)
archive=$(echo "$line" | awk '{print $NF}')

say "downloading $archive"
fetch "$base/$archive" "$tmp/$archive" || die "could not download $archive"
got=$(sha256 "$tmp/$archive")
[ "$got" = "$want" ] || die "checksum mismatch for $archive: refusing to install it"

mkdir -p "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" || die "could not unpack $archive"
[ -f "$tmp/x/claude-secure" ] || die "$archive holds no claude-secure binary"
mkdir -p "$dir" || die "cannot create $dir"
cp "$tmp/x/claude-secure" "$dir/claude-secure.tmp" && chmod 755 "$dir/claude-secure.tmp" &&
	mv -f "$dir/claude-secure.tmp" "$dir/claude-secure" || die "cannot write to $dir"

say "installed $("$dir/claude-secure" version 2>/dev/null || echo claude-secure) to $dir/claude-secure"
case ":${PATH:-}:" in
*":$dir:"*) ;;
*) say "note: $dir is not on your PATH; add it, e.g.: export PATH=\"$dir:\$PATH\"" ;;
esac
say "next: claude-secure doctor, then claude-secure run -- claude (or eval \"\$(claude-secure init zsh)\")"
