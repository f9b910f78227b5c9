package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
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

// Two clients of one gateway, which brings the Anthropic key for both. Alice
// creates a message batch about her instance; Bob fetches Alice's results:
// the batch is not his, and nothing of hers reaches him.
func TestBatchResultsRestoreOnlyForTheirCreator(t *testing.T) {
	// the fake API's results answer what the model was sent (masked)
	g, _, alice, bob := twoClients(t)

	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r",
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": prompt()}}}}}})
	resp, created := post(t, g.url+"/v1/messages/batches", map[string]string{TokenHeader: alice}, batch)
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	id := batchID(t, created)
	results := func(token string) string {
		req, _ := http.NewRequest(http.MethodGet, g.url+"/v1/messages/batches/"+id+"/results", nil)
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

// twoClients starts a gateway in front of the fake API, which the gateway
// brings the Anthropic key for, with two user tokens: alice's and bob's.
func twoClients(t *testing.T) (g *testGateway, api *fakeapi.Server, alice, bob string) {
	t.Helper()
	g = newTestGateway(t, func(c *Config) { c.UpstreamAPIKey = "sk-ant-gateway-key" })
	return g, g.api, g.token(t, "alice", RoleUser), g.token(t, "bob", RoleUser)
}

// batchID is the id of the batch a creation answered with.
func batchID(t *testing.T, created []byte) string {
	t.Helper()
	var b struct{ ID string }
	if err := json.Unmarshal(created, &b); err != nil || b.ID == "" {
		t.Fatalf("the batch creation answered no id: %v", err)
	}
	return b.ID
}

// The Message Batches API through the gateway: the batch's requests are
// masked, its JSONL results come back with the originals.
func TestMessageBatches(t *testing.T) {
	g := newTestGateway(t, nil)
	tok := g.token(t, "batcher", RoleUser)
	var reqs []any
	for i := 0; i < 3; i++ {
		reqs = append(reqs, map[string]any{"custom_id": "req-" + strconv.Itoa(i), "params": map[string]any{
			"model": "claude-fake", "max_tokens": 100,
			"messages": []any{map[string]any{"role": "user", "content": prompt()}}}})
	}
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	resp, out := post(t, g.url+"/v1/messages/batches", map[string]string{TokenHeader: tok}, body)
	if resp.StatusCode != 200 {
		t.Fatalf("create: status %d", resp.StatusCode)
	}
	var batch struct{ ID string }
	if err := json.Unmarshal(out, &batch); err != nil || batch.ID == "" {
		t.Fatalf("create: no batch id")
	}
	req, _ := http.NewRequest(http.MethodGet, g.url+"/v1/messages/batches/"+batch.ID+"/results", nil)
	req.Header.Set(TokenHeader, tok)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	lines, _ := io.ReadAll(r2.Body)
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var res struct {
			Result struct {
				Message struct {
					Content []struct{ Text string }
				}
			}
		}
		if err := json.Unmarshal([]byte(l), &res); err != nil {
			t.Fatalf("a results line is not JSON (%d bytes)", len(l))
		}
		if c := res.Result.Message.Content; len(c) == 0 || c[0].Text != fakeapi.Answer(origInstance, origAccount) {
			t.Fatal("a batch result does not carry the originals")
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d results, want 3", n)
	}
}
