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

// A request whose new pseudonyms wait for the store (another process
// holds it) ends when its client goes away: the handler does not sit out
// the store's lock timeout, nothing is forwarded, the audit line says the
// client went away, and no goroutine is left waiting for the store.
func TestClientGoingAwayEndsTheStoreWait(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e, err := mask.New(st.Seed(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// the store holds something already, so the engine is up to date
	// without reading it again: the wait is the one for new pseudonyms
	if _, err := e.MaskBytes([]byte("vpc-0a1b2c3d"), nil); err != nil {
		t.Fatal(err)
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
	held, err := bolt.Open(store.Path(dir), 0o600, nil)
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
	if !goroutines.Eventually(func() bool { return len(goroutines.In("store.(*Store).IssueContext")) > 0 }) {
		t.Fatal("the request does not wait for the store to record its pseudonyms")
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

func TestClientGoingAwayCancelsUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	p, _ := startProxy(t, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody("hi")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	resp.Body.Read(buf)
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client went away")
	}
}
