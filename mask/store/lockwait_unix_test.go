//go:build !windows

package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/goroutines"
	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// storeStacks returns the stacks of the goroutines that are inside a
// method of Store.
func storeStacks() []string {
	return goroutines.In("mask/store.(*Store).", "mask/store.pollTurnstile")
}

// A call whose context can end does not wait for the store past it:
// held by another handle (at the file lock, for a read or for the write)
// or by a process queued at the turnstile, the wait ends when the context
// does, with its error, and no goroutine is left waiting.
func TestIssueWaitEndsWithItsContext(t *testing.T) {
	old := lockTimeout
	lockTimeout = 10 * time.Minute // the context, not the timeout, ends the wait
	defer func() { lockTimeout = old }()
	for _, c := range []struct {
		name    string
		waitsIn string // the function the wait is in
		hold    func(t *testing.T, dir string) (release func())
	}{
		{"file lock held for writing: the read waits", "(*Store).openLocked", func(t *testing.T, dir string) func() {
			db, err := bolt.Open(Path(dir), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			return func() { db.Close() }
		}},
		{"file lock held for reading: the write waits", "(*Store).writeQueued", func(t *testing.T, dir string) func() {
			// the read passes; the write waits
			db, err := bolt.Open(Path(dir), 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			return func() { db.Close() }
		}},
		{"turnstile", "(*Store).turnstile", func(t *testing.T, dir string) func() {
			f, err := os.OpenFile(Path(dir)+".lock", os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, dir)
			release := c.hold(t, dir)
			defer release()
			batch := []mask.Mapping{{Family: "ec2", Kind: "ec2-instance", Original: "i-0f3a9c2b7d1e4a605", Pseudonym: "i-0b1c2d3e4f5a6b7c8"}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := s.IssueContext(ctx, batch, nil)
				done <- err
			}()
			waiting := goroutines.Eventually(func() bool {
				for _, g := range storeStacks() {
					if strings.Contains(g, c.waitsIn) {
						return true
					}
				}
				return false
			})
			if !waiting {
				cancel()
				t.Fatalf("the call does not wait in %s", c.waitsIn)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the call ended with %v, want the context's error", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the wait did not end with the context")
			}
			if !goroutines.Eventually(func() bool { return len(storeStacks()) == 0 }) {
				t.Fatalf("goroutines still wait for the store:\n%s", strings.Join(storeStacks(), "\n\n"))
			}
			// the store is as good as before
			release()
			got, err := s.Issue(batch, nil)
			if err != nil || got[0] != batch[0].Pseudonym {
				t.Fatalf("the store does not issue after an abandoned wait: %v", err)
			}
		})
	}
}

// A request (its wait can end) takes its turn behind two busy processes
// that wait for the store in the kernel, as a command does: polling alone
// would lose every release to them until the lock timeout.
func TestRequestTakesItsTurnBehindBusyProcesses(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	startHog(t, dir, "20s")
	startHog(t, dir, "20s")
	old := lockTimeout
	lockTimeout = 3 * time.Second
	defer func() { lockTimeout = old }()
	request, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 3 {
		if err := s.updateContext(request, func(*bolt.Tx) error { return nil }); err != nil {
			t.Fatalf("write %d of a request beside two busy processes: %v", i, err)
		}
	}
}

// A caller leaves a shared write while another, whose wait cannot end,
// keeps the writer waiting: the one that leaves gets its context's error
// at once, the other's write goes through, and nothing is left waiting.
func TestCallerLeavesAWriteAnotherWaitsFor(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	held, err := bolt.Open(Path(dir), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	// both calls read the store, then meet at the write together
	s.mu.Lock()
	stay := make(chan error, 1)
	go func() {
		_, err := s.Issue([]mask.Mapping{{Family: "hex", Kind: "ec2-instance", Original: "i-0f3a9c2b7d1e4a605", Pseudonym: "i-0b1c2d3e4f5a6b7c8"}}, nil)
		stay <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leave := make(chan error, 1)
	go func() {
		_, err := s.IssueContext(ctx, []mask.Mapping{{Family: "hex", Kind: "ec2-instance", Original: "i-0f3a9c2b7d1e4a606", Pseudonym: "i-0b1c2d3e4f5a6b7c9"}}, nil)
		leave <- err
	}()
	inWrite := func() int {
		n := 0
		for _, g := range storeStacks() {
			if strings.Contains(g, "(*Store).write(") {
				n++
			}
		}
		return n
	}
	if !goroutines.Eventually(func() bool { return inWrite() == 2 }) {
		s.mu.Unlock()
		held.Close()
		t.Fatal("the calls do not meet at the write")
	}
	s.mu.Unlock()
	if !goroutines.Eventually(func() bool {
		for _, g := range storeStacks() {
			if strings.Contains(g, "writeQueued") && strings.Contains(g, "openLocked") {
				return true
			}
		}
		return false
	}) {
		held.Close()
		t.Fatal("the write does not wait for the store")
	}
	cancel()
	select {
	case err := <-leave:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the caller that left got %v, want its context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the caller did not leave the shared write")
	}
	held.Close()
	if err := <-stay; err != nil {
		t.Fatal(err)
	}
	if !goroutines.Eventually(func() bool { return len(storeStacks()) == 0 }) {
		t.Fatal("goroutines are left in the store")
	}
}
