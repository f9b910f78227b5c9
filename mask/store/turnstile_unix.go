//go:build !windows

package store

import (
	"context"
	"errors"
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
//
// A wait in the kernel cannot be given up, so a caller whose ctx can end
// (a request, whose client may go away) polls the turnstile instead, and
// leaves when ctx is done.
func (s *Store) turnstile(ctx context.Context) (release func(), err error) {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the store's lock file: %w", err)
	}
	if ctx.Done() != nil {
		return pollTurnstile(ctx, f)
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

// pollTurnstile takes the turnstile lock on f, trying it every lockPoll,
// until ctx is done or lockTimeout has passed.
func pollTurnstile(ctx context.Context, f *os.File) (release func(), err error) {
	deadline := time.NewTimer(lockTimeout)
	defer deadline.Stop()
	var poll *time.Ticker
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("failed to lock the store: %w", err)
		}
		if poll == nil {
			poll = time.NewTicker(lockPoll)
			defer poll.Stop()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("gave up waiting for the store: %w", ctx.Err())
		case <-deadline.C:
			f.Close()
			return nil, fmt.Errorf("store is busy: other processes held it for %v", lockTimeout)
		case <-poll.C:
		}
	}
}
