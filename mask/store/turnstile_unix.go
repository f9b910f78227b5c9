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
// (a request, whose client may go away) first polls the turnstile for a
// while; most waits end there, and a caller that leaves meanwhile leaves
// nothing behind. Polling alone would lose every release to processes
// waiting in the kernel, so a wait that goes on joins them there: a
// caller that leaves after that leaves its waiting goroutine behind,
// which lets the turnstile pass as soon as it gets it.
func (s *Store) turnstile(ctx context.Context, deadline time.Time) (release func(), err error) {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the store's lock file: %w", err)
	}
	if ctx.Done() != nil {
		until := time.Now().Add(turnstilePolling)
		if deadline.Before(until) {
			until = deadline
		}
		release, done, err := pollTurnstile(ctx, f, until)
		if done {
			return release, err
		}
	}
	return waitTurnstile(ctx, f, deadline)
}

// turnstilePolling is how long a caller whose wait can end polls the
// turnstile before it waits in the kernel.
const turnstilePolling = 250 * time.Millisecond

// waitTurnstile waits in the kernel for the turnstile lock on f, until ctx
// is done or the deadline passes; a wait given up lets the lock pass on
// when it comes.
func waitTurnstile(ctx context.Context, f *os.File, deadline time.Time) (release func(), err error) {
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
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var gone error
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("failed to lock the store: %w", err)
		}
		return func() { f.Close() }, nil
	case <-t.C:
		gone = fmt.Errorf("store is busy: other processes held it for %v", lockTimeout)
	case <-ctx.Done():
		gone = fmt.Errorf("gave up waiting for the store: %w", ctx.Err())
	}
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
	return nil, gone
}

// pollTurnstile tries the turnstile lock on f every lockPoll until it
// has it, ctx is done or until passes. done is false when until passed
// (f stays open, for a wait in the kernel).
func pollTurnstile(ctx context.Context, f *os.File, until time.Time) (release func(), done bool, err error) {
	stop := time.NewTimer(time.Until(until))
	defer stop.Stop()
	var poll *time.Ticker
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, true, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, true, fmt.Errorf("failed to lock the store: %w", err)
		}
		if poll == nil {
			poll = time.NewTicker(lockPoll)
			defer poll.Stop()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, true, fmt.Errorf("gave up waiting for the store: %w", ctx.Err())
		case <-stop.C:
			return nil, false, nil
		case <-poll.C:
		}
	}
}
