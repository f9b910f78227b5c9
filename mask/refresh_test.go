package mask

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/goroutines"
)

// heldMappings is a shared store whose next read can be held: the read
// takes what the store holds when it begins, then waits for release
// before handing it over, and fails with ErrStoreUnavailable once down is
// set.
type heldMappings struct {
	*MemoryMappings
	reads   atomic.Int32
	down    atomic.Bool
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (m *heldMappings) IssueContext(ctx context.Context, batch []Mapping, retry func(Mapping) (string, error)) ([]string, error) {
	return m.Issue(batch, retry)
}

func (m *heldMappings) SinceContext(ctx context.Context, cursor uint64, each func([]Mapping, uint64)) error {
	m.reads.Add(1)
	var got []Mapping
	var next uint64
	err := m.MemoryMappings.Since(cursor, func(b []Mapping, n uint64) { got, next = append(got, b...), n })
	if m.down.Load() {
		err = fmt.Errorf("%w: connection refused", ErrStoreUnavailable)
	}
	if m.hold.CompareAndSwap(true, false) {
		m.entered <- struct{}{}
		<-m.release
	}
	if err == nil && len(got) > 0 {
		each(got, next)
	}
	return err
}

// awaitRead waits, up to a generous bound, for a read to be held.
func (m *heldMappings) awaitRead(t *testing.T) {
	t.Helper()
	select {
	case <-m.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call read the store")
	}
}

func newHeld(t *testing.T) (*Engine, *heldMappings) {
	t.Helper()
	m := &heldMappings{MemoryMappings: NewMemoryMappings(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	e, err := New([]byte("seed"), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, m
}

// waitingForRefresh waits until n calls wait for the refresh in progress.
func waitingForRefresh(t *testing.T, n int) {
	t.Helper()
	if !goroutines.Eventually(func() bool {
		w := 0
		for _, g := range goroutines.In("mask.(*Engine).RefreshContext") {
			if strings.Contains(g, "[chan send") || strings.Contains(g, "[select") {
				w++
			}
		}
		return w >= n
	}) {
		t.Fatalf("%d calls did not come to wait for the refresh in progress", n)
	}
}

// With the store down, requests that came while another read it are
// refused together with the error of the next read, instead of each
// failing its own read in turn.
func TestRefreshesThatWaitedShareAFailedRead(t *testing.T) {
	e, m := newHeld(t)
	m.down.Store(true)
	m.hold.Store(true)
	const waiters = 20
	errs := make(chan error, waiters+1)
	go func() { errs <- e.Refresh() }()
	m.awaitRead(t) // the first read began, and waits
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() { errs <- e.RefreshContext(context.Background()) })
	}
	waitingForRefresh(t, waiters)
	close(m.release)
	wg.Wait()
	for range waiters + 1 {
		if err := <-errs; !errors.Is(err, ErrStoreUnavailable) {
			t.Errorf("a refresh ended with %v, want ErrStoreUnavailable", err)
		}
	}
	// New's read, the first call's, and one for all the calls that came
	// while it ran (they may not take the answer of a read begun before
	// them)
	if n := m.reads.Load(); n != 3 {
		t.Errorf("the store was read %d times, want 3", n)
	}
	// the store is back: the next request reads it again
	m.down.Store(false)
	if err := e.Refresh(); err != nil {
		t.Errorf("after the store came back: %v", err)
	}
}

// A call never takes the answer of a read that began before it came: a
// mapping recorded by another replica after that read began, and before
// the call, is in the index when the call returns.
func TestRefreshTakesNoReadBegunBeforeIt(t *testing.T) {
	e, m := newHeld(t)
	m.hold.Store(true)
	first := make(chan error, 1)
	go func() { first <- e.Refresh() }()
	m.awaitRead(t) // the first read took the store as it was, and waits
	// another replica records a mapping
	if _, err := m.Issue([]Mapping{{Family: familyName[famHex], Kind: "ec2-instance", Original: "i-0aaaabbbbccccdddd", Pseudonym: "i-01111222233334444"}}, nil); err != nil {
		t.Fatal(err)
	}
	later := make(chan error, 1)
	go func() { later <- e.Refresh() }()
	waitingForRefresh(t, 1)
	close(m.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	if n := m.reads.Load(); n != 3 {
		t.Errorf("the store was read %d times, want 3 (the later call reads it itself)", n)
	}
	e.mu.RLock()
	n := e.idx.cursor
	e.mu.RUnlock()
	if n != 1 {
		t.Errorf("the index is at %d after the later call, want 1: it missed what was recorded before the call", n)
	}
}
