package gateway

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

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

// Every way of getting in without a usable token is refused, and nothing
// reaches the upstream.
func TestAuthRefusals(t *testing.T) {
	g := newTestGateway(t, nil)
	g.token(t, "alice", RoleUser)
	revoked := g.token(t, "bob", RoleUser)
	if err := g.tokens.Revoke("bob"); err != nil {
		t.Fatal(err)
	}
	viewer := g.token(t, "grafana", RoleViewer)
	for _, c := range []struct {
		name   string
		header map[string]string
		status int
		typ    string
	}{
		{"no token", nil, 401, "authentication_error"},
		{"an Anthropic key only", map[string]string{"x-api-key": "sk-ant-api03-abc"}, 401, "authentication_error"},
		{"wrong token", map[string]string{TokenHeader: "cst_" + strings.Repeat("A", 43)}, 401, "authentication_error"},
		{"not a token at all", map[string]string{TokenHeader: "hunter2"}, 401, "authentication_error"},
		{"revoked token", map[string]string{TokenHeader: revoked}, 401, "authentication_error"},
		{"revoked token as API key", map[string]string{"x-api-key": revoked}, 401, "authentication_error"},
		{"viewer calling the API", map[string]string{TokenHeader: viewer}, 403, "permission_error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, g.url+"/v1/messages", c.header, messagesBody(false))
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if got := errorType(t, body); got != c.typ {
				t.Fatalf("error type %q, want %q", got, c.typ)
			}
		})
	}
	if n := g.api.Hits.Load(); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}
	if st := g.Stats(); st.Refused != 7 {
		t.Fatalf("refused count %d, want 7", st.Refused)
	}
}

// A token is accepted in each place an SDK can put it, and never goes
// upstream; the client's own Anthropic key does, and a client without one
// gets the gateway's.
func TestTokenPlacesAndCredentials(t *testing.T) {
	g := newTestGateway(t, func(c *Config) { c.UpstreamAPIKey = "sk-ant-gateway-key" })
	tok := g.token(t, "alice", RoleUser)
	for _, c := range []struct {
		name    string
		header  map[string]string
		wantKey string
	}{
		{"header, own key", map[string]string{TokenHeader: tok, "x-api-key": "sk-ant-own-key"}, "sk-ant-own-key"},
		{"as the API key", map[string]string{"x-api-key": tok}, "sk-ant-gateway-key"},
		{"as a bearer token", map[string]string{"Authorization": "Bearer " + tok}, "sk-ant-gateway-key"},
		{"header, own OAuth bearer", map[string]string{TokenHeader: tok, "Authorization": "Bearer own-oauth"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(g.api.Requests())
			resp, body := post(t, g.url+"/v1/messages", c.header, messagesBody(false))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			reqs := g.api.Requests()
			if len(reqs) != before+1 {
				t.Fatal("the request did not reach the upstream once")
			}
			h := reqs[len(reqs)-1].Header
			if got := h.Get("X-Api-Key"); got != c.wantKey {
				// names which key arrived, never a token
				t.Fatalf("upstream x-api-key is %s, want %q", describeKey(got, tok), c.wantKey)
			}
			if !strings.Contains(string(body), origInstance) {
				t.Fatal("the answer does not carry the original instance ID")
			}
		})
	}
	if g.api.Saw(tok) || g.api.Saw("cst_") {
		t.Fatal("a gateway token reached the upstream")
	}
}

func TestNoAuthIsLocalOnly(t *testing.T) {
	g := newTestGateway(t, func(c *Config) { c.Tokens = nil })
	resp, _ := post(t, g.url+"/v1/messages", nil, messagesBody(false))
	if resp.StatusCode != 200 {
		t.Fatalf("local request without auth: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/messages", bytes.NewReader(messagesBody(false)))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "attacker.example:8787"
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 403 {
		t.Fatalf("foreign Host without auth: %d", r2.StatusCode)
	}
	if n := g.api.Hits.Load(); n != 1 {
		t.Fatalf("upstream hits %d, want 1", n)
	}
}

func describeKey(v, tok string) string {
	switch {
	case v == "":
		return "missing"
	case v == tok:
		return "the gateway token"
	case strings.HasPrefix(v, TokenPrefix):
		return "some gateway token"
	}
	return strconv.Quote(v)
}
