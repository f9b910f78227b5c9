//go:build windows

package shellwrap

import "os"

// forwarded: Windows delivers console control events to every process on
// the console, so nothing needs relaying.
var forwarded = []os.Signal{}

func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return 1
	}
	return ps.ExitCode()
}
