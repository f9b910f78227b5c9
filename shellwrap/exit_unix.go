//go:build !windows

package shellwrap

import (
	"os"
	"syscall"
)

// forwarded are the signals the child must get when they are sent to the
// wrapper. SIGINT and SIGTSTP come from the terminal to the whole
// foreground group and are not relayed (the child would get them twice).
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
