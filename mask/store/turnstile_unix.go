//go:build !windows

package store

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// turnstile makes processes take the store's file lock in turn. bbolt
// polls its lock every 50 ms, so a writer waiting behind busy processes
// could lose every round to one that asked later and time out; readers
// that keep coming could keep it out for good. Every opening of the store
// first passes a turnstile, an exclusive lock on a file beside the store,
// waited for in the kernel, and holds it only until it has the store's own
// lock: once a writer waits at the store, no one passes the turnstile
// after it, so it is next when the transactions before it end.
func (s *Store) turnstile() (release func(), err error) {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the store's lock file: %w", err)
	}
	var (
		mu        sync.Mutex
		abandoned bool
	)
	got := make(chan error, 1)
	go func() {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			// the wait was given up: let the next one through
			f.Close()
			return
		}
		got <- err
	}()
	t := time.NewTimer(lockTimeout)
	defer t.Stop()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("failed to lock the store: %w", err)
		}
		return func() { f.Close() }, nil
	case <-t.C:
		mu.Lock()
		defer mu.Unlock()
		select {
		case err := <-got:
			if err == nil {
				return func() { f.Close() }, nil
			}
		default:
		}
		abandoned = true
		return nil, fmt.Errorf("store is busy: other processes held it for %v", lockTimeout)
	}
}
