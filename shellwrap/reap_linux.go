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

// children lists the processes whose parent is this process, and
// whether any of them has exited and waits to be reaped. It asks each of
// this process's threads for its children (quick enough to see a process
// that forks and exits every few milliseconds), or, where the kernel does
// not say, reads every process's parent.
func children() (live []int, zombies bool) {
	tasks, _ := filepath.Glob("/proc/self/task/[0-9]*/children")
	if len(tasks) == 0 {
		return allChildren()
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			st, err := os.ReadFile("/proc/" + f + "/stat")
			if err != nil {
				continue
			}
			if i := strings.LastIndexByte(string(st), ')'); i >= 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X') {
				zombies = true
				continue
			}
			live = append(live, pid)
		}
	}
	return live, zombies
}

// allChildren is children by reading every process's parent.
func allChildren() (live []int, zombies bool) {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
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
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err != nil || ppid != self {
			continue
		}
		if f[0] == "Z" || f[0] == "X" {
			zombies = true
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		live = append(live, pid)
	}
	return live, zombies
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

// quiet is how long no child may be seen before the leftovers count as
// gone: a process that forks and exits over and over is a zombie, or not
// yet adopted, at the moment of one look, never for this long.
const quiet = 300 * time.Millisecond

// EndLeftovers ends the processes the child left running: SIGTERM, then
// SIGKILL for those still there after grace. Their own children, orphaned
// in turn, are adopted and ended the same way. It returns once none has
// been seen for a while: how many it ended, and how many were still there
// 2 s after the SIGKILLs, which it gives up on (a program that became
// another user, as sudo does; one stuck in the kernel). Call it after Run, with no other
// child of this process running.
func EndLeftovers(grace time.Duration) (ended, stuck int) {
	signalled := map[int]bool{}
	start := time.Now()
	var lastSeen time.Time
	for {
		reapZombies()
		left, zombies := children()
		now := time.Now()
		if len(left) > 0 || zombies || lastSeen.IsZero() {
			lastSeen = now
		}
		if len(left) == 0 {
			if now.Sub(lastSeen) >= quiet {
				return len(signalled), 0
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		kill := now.Sub(start) >= grace
		if kill && now.Sub(start) >= grace+2*time.Second {
			// what is left cannot be signalled, or does not die of
			// SIGKILL (stuck in the kernel, on a hung file system)
			return len(signalled), len(left)
		}
		for _, pid := range left {
			if signalled[pid] && !kill {
				continue
			}
			sig := syscall.SIGTERM
			if kill {
				sig = syscall.SIGKILL
			}
			_ = syscall.Kill(pid, sig)
			signalled[pid] = true
		}
		time.Sleep(time.Millisecond)
	}
}
