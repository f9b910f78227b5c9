package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/auth/credentials"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakevertex"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
)

// A gateway in front of Vertex AI (serve --provider vertex): Claude Code
// in Vertex mode, its authentication skipped, sends its gateway token in
// x-claude-secure-token; the gateway masks, sends its own Google access
// token, and restores the answer. Vertex never sees an original nor the
// gateway token, and a call without a token is refused before it leaves.
func TestVertexThroughGateway(t *testing.T) {
	fv := fakevertex.New(fakevertex.Options{Keep: true})
	defer fv.Close()
	sa := filepath.Join(t.TempDir(), "sa.json")
	if err := fv.WriteServiceAccount(sa); err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, sa, &credentials.DetectOptions{Scopes: []string{fakevertex.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := proxy.Vertex(proxy.VertexOptions{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	e, err := mask.New([]byte("gateway-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(fv.Base())
	logs := &syncbuf.Buffer{}
	tokens := OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	s, err := New(Config{Upstream: up, Provider: prov, Engine: e, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tok, err := tokens.Create("vertex-claude-code", RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"anthropic_version": fakevertex.AnthropicVersion, "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": prompt()}},
	})
	path := "/projects/" + fv.Project() + "/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"

	resp, out := post(t, srv.URL+path, nil, body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a gateway token: status %d, want 401", resp.StatusCode)
	}
	resp, out = post(t, srv.URL+path, map[string]string{TokenHeader: tok}, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(string(out), fakeapi.Answer(origInstance, origAccount)) {
		t.Error("the answer does not carry the originals back")
	}
	reqs := fv.Requests()
	if len(reqs) != 1 || !reqs[0].Authorized {
		t.Fatalf("Vertex got %d requests (want 1, with the gateway's Google token)", len(reqs))
	}
	for k, vs := range reqs[0].Header {
		for _, v := range vs {
			if strings.Contains(v, tok) {
				t.Errorf("the gateway token reached Vertex in %s", k)
			}
		}
	}
	for i, o := range originals {
		if fv.Saw(o) {
			t.Errorf("original %d reached Vertex", i)
		}
		if strings.Contains(logs.String(), o) {
			t.Errorf("original %d is in the gateway's log", i)
		}
	}
}
