package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

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
