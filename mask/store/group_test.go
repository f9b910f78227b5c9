package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// Many requests with new identifiers at once (a gateway's clients) share
// write transactions, and each gets its own pseudonyms, all recorded.
func TestConcurrentIssuesShareWrites(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	e := engineOn(t, s)
	const n = 64
	masked := make([][]byte, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start // all at once
			out, err := e.MaskBytes(fmt.Appendf(nil, "instance i-0f3a9c2b7d1e4%04x in account 2109876%05d", i, i), nil)
			if err != nil {
				t.Error(err)
				return
			}
			masked[i] = out
		})
	}
	close(start)
	wg.Wait()
	if s.commits >= n {
		t.Fatalf("%d write transactions for %d concurrent requests: writes were not shared", s.commits, n)
	}
	t.Logf("%d concurrent requests, %d write transactions", n, s.commits)
	// a fresh process restores every one of them from the file
	e2 := engineOn(t, openTest(t, dir))
	for i, m := range masked {
		got, err := e2.UnmaskBytes(m, e2.RestoreAll(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != fmt.Sprintf("instance i-0f3a9c2b7d1e4%04x in account 2109876%05d", i, i) {
			t.Fatalf("request %d is not restored from the file", i)
		}
	}
}

// One call's failure inside a shared transaction is not another's.
func TestSharedWriteFailureIsolated(t *testing.T) {
	s := openTest(t, t.TempDir())
	ok := &issueCall{batch: []mask.Mapping{{Family: "f", Kind: "k", Original: "a", Pseudonym: "x"}}, out: []string{""}, done: make(chan struct{})}
	bad := &issueCall{
		batch: []mask.Mapping{{Family: "f", Kind: "k", Original: "b", Pseudonym: "x"}}, // collides with a
		out:   []string{""},
		retry: func(mask.Mapping) (string, error) { return "", fmt.Errorf("no pseudonym left") },
		done:  make(chan struct{}),
	}
	s.writeCalls([]*issueCall{ok, bad})
	if ok.err != nil || ok.out[0] != "x" {
		t.Fatalf("the good call: %v %v", ok.out, ok.err)
	}
	if bad.err == nil {
		t.Fatal("the failing call reported no error")
	}
	got, err := s.Lookup([]string{"x"})
	if err != nil || got[0] != "a" {
		t.Fatalf("the good call's mapping was not kept: %v", err)
	}
}

// A shared write waits for the store's lock as long as one of its callers
// waits for it, and without end when one of them can wait as long as it
// takes.
func TestSharedWriteWaitsWhileACallerDoes(t *testing.T) {
	a, stopA := context.WithCancel(context.Background())
	b, stopB := context.WithCancel(context.Background())
	defer stopA()
	defer stopB()
	wait, release := waitContext([]*issueCall{{ctx: a}, {ctx: b}})
	defer release()
	stopA()
	select {
	case <-wait.Done():
		t.Fatal("the write stopped waiting while a caller still waits for it")
	default:
	}
	stopB()
	select {
	case <-wait.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the write still waits after every caller left")
	}

	c, stopC := context.WithCancel(context.Background())
	stopC()
	wait, release = waitContext([]*issueCall{{ctx: c}, {ctx: context.Background()}, {}})
	defer release()
	if wait.Done() != nil {
		t.Error("a write for a caller that waits as long as it takes can be given up")
	}
}
