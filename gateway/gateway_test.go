package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
)

// The originals clients send; none may reach the upstream.
const (
	origInstance = "i-0f3a9c2b7d1e4a605"
	origAccount  = "210987654321"
)

var originals = []string{origInstance, origAccount}

func prompt() string {
	return "Why is instance " + origInstance + " in account " + origAccount + " failing its health checks?"
}

type testGateway struct {
	*Server
	url    string
	api    *fakeapi.Server
	tokens TokenStore
	logs   *syncbuf.Buffer
}

func newTestGateway(t *testing.T, edit func(*Config)) *testGateway {
	t.Helper()
	return newTestGatewayTo(t, fakeapi.New(true), edit)
}

// newTestGatewayTo is newTestGateway in front of the fake API given.
func newTestGatewayTo(t *testing.T, api *fakeapi.Server, edit func(*Config)) *testGateway {
	t.Helper()
	t.Cleanup(api.Close)
	e, err := mask.New([]byte("gateway-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(api.URL)
	logs := &syncbuf.Buffer{}
	cfg := Config{
		Upstream: up,
		Engine:   e,
		Tokens:   OpenTokens(filepath.Join(t.TempDir(), "tokens.json")),
		Limits:   Limits{},
		Log:      slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, o := range originals {
			if api.Saw(o) {
				t.Errorf("an original (%d bytes) reached the upstream", len(o))
			}
			if strings.Contains(logs.String(), o) {
				t.Errorf("an original (%d bytes) is in the gateway's log", len(o))
			}
		}
	})
	return &testGateway{Server: s, url: srv.URL, api: api, tokens: cfg.Tokens, logs: logs}
}

func (g *testGateway) token(t *testing.T, name string, role Role) string {
	t.Helper()
	tok, err := g.tokens.Create(name, role)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func messagesBody(stream bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-fake", "max_tokens": 100, "stream": stream,
		"messages": []any{map[string]any{"role": "user", "content": prompt()}},
	})
	return b
}

func post(t *testing.T, url string, header map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func errorType(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" {
		t.Fatalf("not an Anthropic error body: %q", body)
	}
	return e.Error.Type
}
