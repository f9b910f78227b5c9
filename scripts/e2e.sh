#!/bin/sh
# End to end with real clients from npm: installs a pinned
# @anthropic-ai/claude-code (its native binary needs no postinstall step and
# no network beyond the registry) and a pinned @anthropic-ai/sdk into
# .cache/, then runs ./e2e: `claude -p` through `claude-secure run`, and the
# TypeScript SDK through a `claude-secure serve` process, both against fake
# upstreams on loopback.
#
# `scripts/e2e.sh install` only installs them (scripts/test.sh does that in
# the background while the other tests run).
#
# E2E_DUMP=DIR keeps every request body the scripted fake upstream of
# e2e/identity_test.go receives (masked, unless one leaked).
set -eu
cd "$(dirname "$0")/.."
# npm_install DIR PACKAGE@VERSION: a pinned package into DIR, quietly
npm_install() {
	echo "== installing $2"
	mkdir -p "$1"
	npm install --prefix "$1" --no-audit --no-fund --ignore-scripts --loglevel=error "$2" >/dev/null 2>&1 || {
		echo "e2e: npm install $2 failed" >&2
		exit 1
	}
}
version=${CLAUDE_CODE_VERSION:-2.1.332}
dir=.cache/claude-code-$version
case "$(uname -s)-$(uname -m)" in
Linux-x86_64) platform=linux-x64 ;;
Linux-aarch64) platform=linux-arm64 ;;
Darwin-arm64) platform=darwin-arm64 ;;
Darwin-x86_64) platform=darwin-x64 ;;
*) echo "e2e: no Claude Code build for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
bin=$dir/node_modules/@anthropic-ai/claude-code-$platform/claude
if [ ! -x "$bin" ]; then
	npm_install "$dir" "@anthropic-ai/claude-code@$version"
fi
sdk_version=${ANTHROPIC_TS_SDK_VERSION:-1.14.0}
sdk=.cache/anthropic-sdk-$sdk_version
if [ ! -f "$sdk/node_modules/@anthropic-ai/sdk/package.json" ]; then
	npm_install "$sdk" "@anthropic-ai/sdk@$sdk_version"
fi
[ "${1:-}" != install ] || exit 0
echo "== Claude Code $("$bin" --version 2>/dev/null || echo '(version unknown)')"
echo "== @anthropic-ai/sdk $sdk_version, node $(node --version)"
CLAUDE_CODE_BIN="$PWD/$bin" ANTHROPIC_TS_SDK_DIR="$PWD/$sdk" go test -count=1 -race -v ./e2e/
