#!/bin/sh
# End to end with the real Claude Code: installs a pinned
# @anthropic-ai/claude-code from npm into .cache/ (its native binary needs
# no postinstall step and no network beyond the registry), then drives
# `claude -p` through `claude-secure run` against the fake upstream in
# e2e/claudecode_test.go.
set -eu
cd "$(dirname "$0")/.."
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
	echo "== installing @anthropic-ai/claude-code@$version"
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
		"@anthropic-ai/claude-code@$version" >/dev/null 2>&1 || {
		echo "e2e: npm install @anthropic-ai/claude-code@$version failed" >&2
		exit 1
	}
fi
echo "== Claude Code $("$bin" --version 2>/dev/null || echo '(version unknown)')"
CLAUDE_CODE_BIN="$PWD/$bin" go test -count=1 -v ./e2e/
