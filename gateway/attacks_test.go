package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
)

// Two clients of one gateway, which brings the Anthropic key for both. Alice
// creates a message batch about her instance; Bob fetches Alice's results:
// the batch is not his, and nothing of hers reaches him.
func TestBatchResultsRestoreOnlyForTheirCreator(t *testing.T) {
	var mu sync.Mutex
	var params string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/batches":
			var req struct {
				Requests []struct{ Params json.RawMessage }
			}
			json.Unmarshal(body, &req)
			params = string(req.Requests[0].Params)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"msgbatch_alice","type":"message_batch"}`)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/messages/batches":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"data":[{"id":"msgbatch_alice","type":"message_batch"}]}`)
		default:
			// the results echo what the model was sent (masked)
			w.Header().Set("Content-Type", "application/binary")
			io.WriteString(w, `{"custom_id":"r","result":{"type":"succeeded","message":{"content":[{"type":"text","text":`+jsonQ(params)+`}]}}}`+"\n")
		}
	}))
	defer up.Close()
	srv, _, alice, bob := twoClients(t, up.URL)

	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r",
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": prompt()}}}}}})
	resp, _ := post(t, srv.URL+"/v1/messages/batches", map[string]string{TokenHeader: alice}, batch)
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	results := func(token string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/messages/batches/msgbatch_alice/results", nil)
		req.Header.Set(TokenHeader, token)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		return string(got)
	}
	if mine := results(alice); !strings.Contains(mine, originals[0]) {
		t.Fatal("alice's own results were not restored")
	}
	got := results(bob)
	for _, o := range originals {
		if strings.Contains(got, o) {
			t.Errorf("bob's answer holds alice's original (%d bytes): the batch restore set is not tied to the client that created the batch", len(o))
		}
	}
}

// twoClients starts a gateway in front of upstream, which brings the
// Anthropic key, with two user tokens: alice's and bob's.
func twoClients(t *testing.T, upstream string) (srv *httptest.Server, toks *Tokens, alice, bob string) {
	t.Helper()
	e, _ := mask.New([]byte("gateway-test-seed"), mask.NewMemoryMappings(), nil)
	u, _ := url.Parse(upstream)
	toks = OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	s, err := New(Config{Upstream: u, Engine: e, Tokens: toks, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), UpstreamAPIKey: "sk-ant-gateway-key"})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(s)
	t.Cleanup(srv.Close)
	alice, _ = toks.Create("alice", RoleUser)
	bob, _ = toks.Create("bob", RoleUser)
	return srv, toks, alice, bob
}

func jsonQ(s string) string { b, _ := json.Marshal(s); return string(b) }
