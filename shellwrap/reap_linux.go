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
// not say, looks at every process's parent.
func children() (live []int, zombies bool) {
	self := os.Getpid()
	pids, all := candidates()
	for _, pid := range pids {
		state, ppid, ok := procStat(pid)
		if !ok || all && ppid != self {
			continue // gone meanwhile, or another's
		}
		if state == 'Z' || state == 'X' {
			zombies = true
			continue
		}
		live = append(live, pid)
	}
	return live, zombies
}

// candidates returns this process's children as its threads list them,
// or every process (all) where the kernel keeps no such lists.
func candidates() (pids []int, all bool) {
	lists, _ := filepath.Glob("/proc/self/task/[0-9]*/children")
	all = len(lists) == 0
	if all {
		lists, _ = filepath.Glob("/proc/[0-9]*")
	}
	for _, l := range lists {
		if all {
			if pid, err := strconv.Atoi(filepath.Base(l)); err == nil {
				pids = append(pids, pid)
			}
			continue
		}
		b, _ := os.ReadFile(l)
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, all
}

// procStat reads a process's state and parent from /proc/PID/stat:
// "pid (comm) state ppid …", where comm may hold spaces and parentheses.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
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
