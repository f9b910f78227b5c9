//go:build linux

package shellwrap

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// subreaper makes this process the one that adopts the child's orphans:
// a process the child starts in the background and leaves behind is
// reparented here, not to init, so the wrapper knows it is still there.
func subreaper() {
	const prSetChildSubreaper = 36
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// children lists the live processes whose parent is this process.
func children() []int {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			out = append(out, pid)
		}
	}
	return out
}

// reapZombies collects every child that has exited.
func reapZombies() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// EndLeftovers ends the processes the child left running: SIGTERM, then
// SIGKILL for those still there after grace. Their own children, orphaned
// in turn, are adopted and ended the same way. It returns how many there
// were, once none is left. Call it after Run, with no other child of this
// process running.
func EndLeftovers(grace time.Duration) int {
	signalled := map[int]bool{}
	deadline := time.Now().Add(grace)
	for {
		reapZombies()
		left := children()
		if len(left) == 0 {
			return len(signalled)
		}
		sig := syscall.SIGTERM
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range left {
			if !signalled[pid] || sig == syscall.SIGKILL {
				_ = syscall.Kill(pid, sig)
				signalled[pid] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
