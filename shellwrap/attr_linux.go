//go:build linux

package shellwrap

import (
	"os/exec"
	"syscall"
)

// guard asks the kernel to send the child SIGTERM if the wrapper dies
// without reaping it (kill -9), so no orphan is left holding the terminal.
func guard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
