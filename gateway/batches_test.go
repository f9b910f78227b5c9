package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A message batch belongs to the token that created it: another token's
// status, results, cancel and delete calls are answered 404 and never
// reach the upstream, whose key the gateway adds. Calls without a body go
// through by path only: the models list, a token's own batches.
func TestBatchCallsBelongToTheirCreator(t *testing.T) {
	g, api, alice, bob := twoClients(t)
	batch := `{"requests":[{"custom_id":"r","params":{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}}]}`
	resp, created := post(t, g.url+"/v1/messages/batches", map[string]string{TokenHeader: alice}, []byte(batch))
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	id := batchID(t, created)
	call := func(token, method, path string) int {
		req, _ := http.NewRequest(method, g.url+path, nil)
		req.Header.Set(TokenHeader, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	reached := func() int64 { return api.Hits.Load() }
	own := []struct{ method, path string }{
		{http.MethodGet, "/v1/messages/batches/" + id},
		{http.MethodGet, "/v1/messages/batches/" + id + "/results"},
		{http.MethodPost, "/v1/messages/batches/" + id + "/cancel"},
		{http.MethodDelete, "/v1/messages/batches/" + id},
	}
	for _, c := range own {
		before := reached()
		if got := call(bob, c.method, c.path); got != http.StatusNotFound {
			t.Errorf("bob: %s %s got %d, want 404", c.method, c.path, got)
		}
		if reached() != before {
			t.Errorf("bob: %s %s reached the upstream", c.method, c.path)
		}
		if got := call(alice, c.method, c.path); got != http.StatusOK {
			t.Errorf("alice: %s %s got %d, want 200", c.method, c.path, got)
		}
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/v1/models", 200},
		{http.MethodGet, "/v1/models/claude-sonnet-4-5", 200},
		{http.MethodGet, "/v1/models/..", 403},
		{http.MethodGet, "/v1/messages/batches/../results", 403},
		{http.MethodGet, "/v1/messages/batches", 403}, // every token's batches
		{http.MethodGet, "/v1/files", 403},
		{http.MethodDelete, "/v1/files/file_011CNha8iCJcU1wXNR6q4V8w", 403},
		{http.MethodGet, "/v1/organizations/me", 403},
		{http.MethodPost, "/v1/messages/batches/msgbatch_nobody/cancel", 404},
	} {
		before := reached()
		if got := call(bob, c.method, c.path); got != c.want {
			t.Errorf("bob: %s %s got %d, want %d", c.method, c.path, got, c.want)
		}
		if forwarded := reached() != before; forwarded != (c.want == 200) {
			t.Errorf("bob: %s %s forwarded: %v", c.method, c.path, forwarded)
		}
	}
}

// Without tokens, a page in a browser could post to a local gateway and
// have the gateway's key added: a request with an Origin header, or a body
// not declared JSON (what a page may send without asking first), is
// refused and reaches nothing.
func TestNoAuthRefusesBrowserRequests(t *testing.T) {
	g := newTestGateway(t, func(c *Config) { c.Tokens = nil; c.UpstreamAPIKey = "sk-ant-gateway-key" })
	for _, c := range []struct{ name, ctype, origin string }{
		{"origin", "application/json", "http://evil.example"},
		{"text/plain", "text/plain", ""},
	} {
		req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/messages", strings.NewReader(string(messagesBody(false))))
		req.Header.Set("Content-Type", c.ctype)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s: status %d, want a refusal", c.name, resp.StatusCode)
		}
	}
	if n := g.api.Hits.Load(); n != 0 {
		t.Errorf("%d browser requests reached the upstream", n)
	}
}

// A token made again under a revoked token's name is another token: the
// batches of the first are not its own.
func TestBatchesStayWithTheTokenNotItsName(t *testing.T) {
	g, api, alice, _ := twoClients(t)
	batch := `{"requests":[{"custom_id":"r","params":{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}}]}`
	resp, created := post(t, g.url+"/v1/messages/batches", map[string]string{TokenHeader: alice}, []byte(batch))
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	id := batchID(t, created)
	if err := g.tokens.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	again, err := g.tokens.Create("alice", RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	before := api.Hits.Load()
	req, _ := http.NewRequest(http.MethodGet, g.url+"/v1/messages/batches/"+id, nil)
	req.Header.Set(TokenHeader, again)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the new token of the same name got %d for the first token's batch, want 404", resp.StatusCode)
	}
	if api.Hits.Load() != before {
		t.Error("the new token's call for the first token's batch reached the upstream")
	}
}
