package fakevertex

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

const (
	inst  = "i-0123456789abcdef0"
	acct  = "123456789012"
	model = "claude-sonnet-4-5@20250929"
)

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	o.Keep = true
	s := New(o)
	t.Cleanup(s.Close)
	return s
}

// accessToken gets a token the way Google's client libraries do, from the
// fake's service account file.
func accessToken(t *testing.T, s *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := s.WriteServiceAccount(path); err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, path, &credentials.DetectOptions{Scopes: []string{Scope}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		t.Fatalf("no token: %v", err)
	}
	if p, _ := creds.ProjectID(context.Background()); p != s.Project() {
		t.Errorf("the key file names project %q", p)
	}
	return tok.Value
}

func call(t *testing.T, s *Server, path, token, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Base()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func modelURL(project, m, action string) string {
	return "/projects/" + project + "/locations/us-east5/publishers/anthropic/models/" + m + ":" + action
}

const body = `{"anthropic_version":"vertex-2023-10-16","max_tokens":10,"messages":[{"role":"user","content":"` + inst + ` in account ` + acct + `"}]}`

// The service account file's token_uri leads Google's library to the
// fake, whose token opens the model endpoints: the whole answer and the
// streamed one quote what was sent, and token counting counts.
func TestTokenOpensTheModels(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s)
	if s.Grants.Load() != 1 {
		t.Fatalf("%d grants", s.Grants.Load())
	}
	resp, out := call(t, s, modelURL(s.Project(), model, "rawPredict"), tok, body)
	if resp.StatusCode != 200 || !strings.Contains(out, jsonString(fakeapi.Answer(inst, acct))) || !strings.Contains(out, `"model":"claude-sonnet-4-5-20250929"`) {
		t.Fatalf("rawPredict: %d %s", resp.StatusCode, out)
	}
	resp, out = call(t, s, modelURL(s.Project(), model, "streamRawPredict"), tok, strings.Replace(body, "{", `{"stream":true,`, 1))
	text, toolJSON, err := fakeapi.Streamed([]byte(out))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || err != nil ||
		text != fakeapi.Answer(inst, acct) || toolJSON != fakeapi.ToolInput(inst, acct) {
		t.Fatalf("streamRawPredict: %d %q %v", resp.StatusCode, out, err)
	}
	resp, out = call(t, s, modelURL(s.Project(), "count-tokens", "rawPredict"), tok, strings.Replace(body, "{", `{"model":"`+model+`",`, 1))
	if resp.StatusCode != 200 || !strings.Contains(out, `"input_tokens"`) {
		t.Fatalf("count-tokens: %d %s", resp.StatusCode, out)
	}
	for i, r := range s.Requests() {
		if !r.Authorized || r.Project != s.Project() || r.Region != "us-east5" {
			t.Errorf("request %d: authorized %v, project %q, region %q", i, r.Authorized, r.Project, r.Region)
		}
	}
}

// Without a token, with one the fake did not issue, or one revoked, the
// model answers 401 in Google's error shape; another project is 403; a
// body without the Vertex version or with a model field is refused.
func TestRefusals(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s)
	path := modelURL(s.Project(), model, "rawPredict")
	for _, bad := range []string{"", "ya29.not-issued"} {
		resp, out := call(t, s, path, bad, body)
		var e struct {
			Error struct {
				Code   int
				Status string
			}
		}
		if resp.StatusCode != 401 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != 401 || e.Error.Status != "UNAUTHENTICATED" {
			t.Errorf("token %q: %d %s", bad, resp.StatusCode, out)
		}
	}
	if resp, out := call(t, s, modelURL("someone-else", model, "rawPredict"), tok, body); resp.StatusCode != 403 || !strings.Contains(out, "PERMISSION_DENIED") {
		t.Errorf("another project: %d %s", resp.StatusCode, out)
	}
	if resp, _ := call(t, s, path, tok, strings.Replace(body, "vertex-2023-10-16", "2023-06-01", 1)); resp.StatusCode != 400 {
		t.Errorf("another anthropic_version: %d", resp.StatusCode)
	}
	if resp, _ := call(t, s, path, tok, strings.Replace(body, "{", `{"model":"`+model+`",`, 1)); resp.StatusCode != 400 {
		t.Errorf("a model field: %d", resp.StatusCode)
	}
	s.Revoke()
	if resp, _ := call(t, s, path, tok, body); resp.StatusCode != 401 {
		t.Errorf("a revoked token: %d", resp.StatusCode)
	}
	if n := s.Refused.Load(); n != 3 {
		t.Errorf("%d refused, want 3", n)
	}
}

// The token endpoint checks the assertion: a key that is not the service
// account's, another audience, no scope, a long life, another grant.
func TestTokenEndpointChecksTheAssertion(t *testing.T) {
	s := newServer(t, Options{})
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now().Unix()
	good := map[string]any{"iss": ClientEmail, "aud": s.TokenURI(), "scope": Scope, "iat": now, "exp": now + 3600}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range good {
			c[a] = b
		}
		c[k] = v
		return c
	}
	for _, c := range []struct {
		name   string
		key    *rsa.PrivateKey
		claims map[string]any
		grant  string
		ok     bool
	}{
		{"good", s.key, good, JWTBearer, true},
		{"another key", other, good, JWTBearer, false},
		{"another audience", s.key, with("aud", "https://oauth2.googleapis.com/token"), JWTBearer, false},
		{"another issuer", s.key, with("iss", "someone@example.com"), JWTBearer, false},
		{"no scope", s.key, with("scope", ""), JWTBearer, false},
		{"expired", s.key, with("exp", now-10), JWTBearer, false},
		{"a day long", s.key, with("exp", now+86400), JWTBearer, false},
		{"another grant", s.key, good, "client_credentials", false},
	} {
		form := url.Values{"grant_type": {c.grant}, "assertion": {sign(t, c.key, s.keyID, c.claims)}}
		resp, err := http.PostForm(s.TokenURI(), form)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tr struct{ AccessToken, Error string }
		_ = json.Unmarshal(out, &struct {
			AccessToken *string `json:"access_token"`
			Error       *string `json:"error"`
		}{&tr.AccessToken, &tr.Error})
		if got := resp.StatusCode == 200 && strings.HasPrefix(tr.AccessToken, "ya29."); got != c.ok {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, out)
		}
		if !c.ok && tr.Error == "" {
			t.Errorf("%s: no OAuth error code", c.name)
		}
	}
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// A Script gives the streamed answer's events.
func TestScript(t *testing.T) {
	s := newServer(t, Options{Script: func(b []byte) []any {
		return []any{map[string]any{"type": "message_start", "message": map[string]any{"id": "m"}}, map[string]any{"type": "message_stop"}}
	}})
	tok := accessToken(t, s)
	_, out := call(t, s, modelURL(s.Project(), model, "streamRawPredict"), tok, body)
	if out != "event: message_start\ndata: {\"message\":{\"id\":\"m\"},\"type\":\"message_start\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n" {
		t.Errorf("scripted stream: %q", out)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}
