package shellwrap

import (
	"fmt"
	"strings"
)

// Shells lists the shells Init knows.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// HookEnv is set by the shell integration, so `claude-secure doctor` can
// tell that it is active.
const HookEnv = "CLAUDE_SECURE_HOOK"

// Init returns the shell code that makes typing `claude` run
// `claude-secure run -- claude`. The function calls the real binaries with
// `command` (or `&` in PowerShell), and run looks the child up on PATH, so
// the function never calls itself.
func Init(shell string) (string, error) {
	switch shell {
	case "bash", "zsh":
		return strings.TrimLeft(fmt.Sprintf(`
# claude-secure: run Claude Code behind the masking proxy.
# Add to your ~/.%src: eval "$(claude-secure init %s)"
export %s=%s
claude() {
	command claude-secure run -- claude "$@"
}
`, shell, shell, HookEnv, shell), "\n"), nil
	case "fish":
		return strings.TrimLeft(fmt.Sprintf(`
# claude-secure: run Claude Code behind the masking proxy.
# Add to ~/.config/fish/config.fish: claude-secure init fish | source
set -gx %s fish
function claude --wraps claude --description 'Claude Code behind claude-secure'
	command claude-secure run -- claude $argv
end
`, HookEnv), "\n"), nil
	case "powershell", "pwsh":
		return strings.TrimLeft(fmt.Sprintf(`
# claude-secure: run Claude Code behind the masking proxy.
# Add to your $PROFILE: Invoke-Expression (& claude-secure init powershell | Out-String)
$env:%s = "powershell"
function claude {
	& (Get-Command claude-secure -CommandType Application | Select-Object -First 1).Source run -- claude @args
	$global:LASTEXITCODE = $LASTEXITCODE
}
`, HookEnv), "\n"), nil
	}
	return "", fmt.Errorf("unknown shell %q (want one of %s)", shell, strings.Join(Shells, ", "))
}
