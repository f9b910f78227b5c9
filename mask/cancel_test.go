package mask

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitingMappings is a store another process holds: a call that would
// write (or, once hold is set, read) waits until its ctx is done.
type waitingMappings struct {
	*MemoryMappings
	entered chan struct{}
	hold    chan struct{} // closed: SinceContext waits too
}

func (m *waitingMappings) IssueContext(ctx context.Context, batch []Mapping, retry func(Mapping) (string, error)) ([]string, error) {
	m.entered <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (m *waitingMappings) SinceContext(ctx context.Context, cursor uint64, each func([]Mapping, uint64)) error {
	select {
	case <-m.hold:
		m.entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	default:
	}
	return m.MemoryMappings.Since(cursor, each)
}

// within waits for ch, failing the test if it takes longer than a
// generous bound.
func within(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end", what)
		return nil
	}
}

// Masking a request hands its context to a store that can end a wait:
// new pseudonyms that wait for the store end with the request, and
// nothing is returned to forward.
func TestMaskRequestWaitEndsWithItsContext(t *testing.T) {
	m := &waitingMappings{MemoryMappings: NewMemoryMappings(), entered: make(chan struct{}, 1), hold: make(chan struct{})}
	e, err := New([]byte("seed"), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	body := []byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"instance i-0f3a9c2b7d1e4a605"}]}`)
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, _, err = e.AppendMaskRequestContext(ctx, nil, body, BodyMessages, nil)
		done <- err
	}()
	awaitEntered(t, m) // waiting for the store
	cancel()
	if err := within(t, done, "masking"); !errors.Is(err, context.Canceled) {
		t.Errorf("masking ended with %v, want the context's error", err)
	}
	if out != nil {
		t.Error("masking returned a body although its pseudonyms were not recorded")
	}
}

// A refresh that waits for another one to finish reading the store ends
// when its own context does.
func TestRefreshWaitEndsWithItsContext(t *testing.T) {
	m := &waitingMappings{MemoryMappings: NewMemoryMappings(), entered: make(chan struct{}, 1), hold: make(chan struct{})}
	e, err := New([]byte("seed"), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	close(m.hold)
	first, stopFirst := context.WithCancel(context.Background())
	defer stopFirst()
	firstDone := make(chan error, 1)
	go func() { firstDone <- e.RefreshContext(first) }()
	awaitEntered(t, m) // the first refresh reads the store, which waits

	second, stopSecond := context.WithCancel(context.Background())
	secondDone := make(chan error, 1)
	go func() { secondDone <- e.RefreshContext(second) }()
	stopSecond()
	if err := within(t, secondDone, "the waiting refresh"); !errors.Is(err, context.Canceled) {
		t.Errorf("the waiting refresh ended with %v, want the context's error", err)
	}
	stopFirst()
	if err := within(t, firstDone, "the first refresh"); !errors.Is(err, context.Canceled) {
		t.Errorf("the first refresh ended with %v, want the context's error", err)
	}
}

// awaitEntered waits, up to a generous bound, for a call to reach m's
// store: an engine that stops handing its context to the store fails here
// instead of hanging.
func awaitEntered(t *testing.T, m *waitingMappings) {
	t.Helper()
	select {
	case <-m.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine does not wait in the store's context-aware calls")
	}
}
