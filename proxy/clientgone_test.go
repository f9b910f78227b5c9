package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/goroutines"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
	bolt "go.etcd.io/bbolt"
)

// A request that waits for the store (another process holds it) ends
// when its client goes away: the handler does not sit out the store's lock
// timeout, nothing is forwarded, the audit line says the client went away,
// and no goroutine is left waiting for the store. The wait may be the
// engine's refresh (another process recorded something, then holds the
// store; the body has not been looked at yet), the read of the store
// before new pseudonyms are recorded (held for writing), or the write
// that records them (held for reading).
func TestClientGoingAwayEndsTheStoreWait(t *testing.T) {
	for _, c := range []struct {
		name     string
		refresh  bool     // another process records a mapping first
		readOnly bool     // the other process holds the store for reading
		waitIn   []string // where the request waits, all of them
	}{
		{name: "refresh", refresh: true, waitIn: []string{"(*Engine).RefreshContext", "openLocked"}},
		{name: "read before recording", waitIn: []string{"store.(*Store).IssueContext", "openLocked"}},
		{name: "recording", readOnly: true, waitIn: []string{"store.(*Store).IssueContext", "store.(*Store).write"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clientGoneWhileWaiting(t, c.refresh, c.readOnly, c.waitIn)
		})
	}
}

func clientGoneWhileWaiting(t *testing.T, refresh, readOnly bool, waitIn []string) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	st, err := store.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	e, err := mask.New(st.Seed(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// the store holds something already, so the engine is up to date
	// without reading it again
	if _, err := e.MaskBytes([]byte("vpc-0a1b2c3d"), nil); err != nil {
		t.Fatal(err)
	}
	if refresh {
		other, err := store.Open(dir, key)
		if err != nil {
			t.Fatal(err)
		}
		oe, err := mask.New(other.Seed(), other, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oe.MaskBytes([]byte("vpc-0d4e5f6a"), nil); err != nil {
			t.Fatal(err)
		}
	}
	api := fakeapi.New(true)
	defer api.Close()
	up, _ := url.Parse(api.URL)
	var log syncbuf.Buffer
	records := make(chan Record, 4)
	p, err := New(Options{Upstream: up, Engine: e, Audit: slog.New(slog.NewJSONHandler(&log, nil)),
		Observe: func(r Record) { records <- r }})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Shutdown(context.Background())

	// another process holds the store
	held, err := bolt.Open(store.Path(dir), 0o600, &bolt.Options{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody(clientText)))
	req.Header.Set("Content-Type", "application/json")
	sent := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	if !goroutines.Eventually(func() bool {
		for _, fn := range waitIn {
			if len(goroutines.In(fn)) == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the request does not wait for the store where expected:\n%s", strings.Join(goroutines.In("claude-secure/mask"), "\n\n"))
	}
	cancel()
	<-sent
	select {
	case rec := <-records:
		if rec.Status != 499 || rec.Refusal != "client_gone" {
			t.Errorf("the request ended with status %d, refusal %q; want 499, client_gone", rec.Status, rec.Refusal)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return when the client went away")
	}
	if !strings.Contains(log.String(), `"refusal":"client_gone"`) {
		t.Error("the audit line does not say the client went away")
	}
	if n := api.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached the upstream", n)
	}
	if !goroutines.Eventually(func() bool { return len(goroutines.In("mask/store.")) == 0 }) {
		t.Fatalf("goroutines still wait for the store:\n%s", strings.Join(goroutines.In("mask/store."), "\n\n"))
	}
	for i, o := range originals {
		if strings.Contains(log.String(), o) {
			t.Errorf("original %d is in the audit log", i+1)
		}
	}
}
