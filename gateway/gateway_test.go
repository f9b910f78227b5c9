package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	tokens *Tokens
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

func TestRateLimitPerToken(t *testing.T) {
	// one request every 5 s: the second at once is over the limit however
	// slow the machine is
	g := newTestGateway(t, func(c *Config) { c.Limits = Limits{PerSecond: 0.2} })
	alice := g.token(t, "alice", RoleUser)
	bob := g.token(t, "bob", RoleUser)
	body := messagesBody(false)
	if resp, b := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: alice}, body); resp.StatusCode != 200 {
		t.Fatalf("first request: status %d: %s", resp.StatusCode, b)
	}
	resp, b := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: alice}, body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second request at once: status %d, want 429", resp.StatusCode)
	}
	if typ := errorType(t, b); typ != "rate_limit_error" {
		t.Fatalf("error type %q", typ)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
		t.Fatalf("Retry-After %q, want 1 to 5 seconds", resp.Header.Get("Retry-After"))
	}
	if resp, _ := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: bob}, body); resp.StatusCode != 200 {
		t.Fatalf("another token was limited too: %d", resp.StatusCode)
	}
	if n := g.api.Hits.Load(); n != 2 {
		t.Fatalf("upstream hits %d, want 2", n)
	}
}

// The per-second bucket allows a burst as large as the rate, then one
// request per 1/rate.
func TestPerSecondBurst(t *testing.T) {
	l := newLimiter(Limits{PerSecond: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait < 300*time.Millisecond || wait > 340*time.Millisecond {
		t.Fatalf("fourth request at once: allowed=%v wait=%v, want a refusal with about 333ms", ok, wait)
	}
	if ok, _ := l.allow("a", now.Add(340*time.Millisecond)); !ok {
		t.Fatal("a request after 1/rate was refused")
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another caller shares the bucket")
	}
}

func TestHourlyLimit(t *testing.T) {
	l := newLimiter(Limits{PerSecond: 100, PerHour: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait < 15*time.Minute {
		t.Fatalf("fourth request in the hour: allowed=%v wait=%v", ok, wait)
	}
	// a refused request takes nothing: the per-second bucket is intact
	if ok, _ := l.allow("a", now.Add(20*time.Minute)); !ok {
		t.Fatal("a request was refused after the hourly bucket refilled one")
	}
}

func TestMetricsStatsAndHealth(t *testing.T) {
	ready := errors.New("store unavailable")
	var mu sync.Mutex
	g := newTestGateway(t, func(c *Config) {
		c.Ready = func() error { mu.Lock(); defer mu.Unlock(); return ready }
	})
	user := g.token(t, "alice", RoleUser)
	viewer := g.token(t, "grafana", RoleViewer)
	admin := g.token(t, "ops", RoleAdmin)
	resp, _ := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: user}, messagesBody(true))
	reqID := resp.Header.Get("X-Claude-Secure-Request-Id")
	if !strings.HasPrefix(reqID, "cs_") {
		t.Fatalf("no request id for the client: %q", reqID)
	}
	post(t, g.url+"/v1/messages", nil, messagesBody(false))

	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
		if tok != "" {
			req.Header.Set(TokenHeader, tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz", ""); code != 503 || !strings.Contains(body, "store unavailable") {
		t.Fatalf("readyz with a failing store: %d %s", code, body)
	}
	mu.Lock()
	ready = nil
	mu.Unlock()
	if code, _ := get("/readyz", ""); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	for _, c := range []struct {
		tok  string
		code int
	}{{"", 401}, {user, 403}, {viewer, 200}, {admin, 200}} {
		if code, _ := get("/metrics", c.tok); code != c.code {
			t.Fatalf("/metrics: %d, want %d", code, c.code)
		}
	}
	_, m := get("/metrics", viewer)
	for _, want := range []string{
		`claude_secure_requests_total{code="200",endpoint="/v1/messages",token="alice"} 1`,
		`claude_secure_rejections_total{reason="no_token",token=""} 2`, // the API call and /metrics without a token
		`claude_secure_upstream_responses_total{code="200"} 1`,
		`claude_secure_masked_total{kind="ec2-instance"} 1`,
		`claude_secure_unmasked_total{kind="ec2-instance"} 2`,
		`claude_secure_request_duration_seconds_count{endpoint="/v1/messages"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
	code, st := get("/stats", admin)
	if code != 200 || !strings.Contains(st, `"requests":1`) || !strings.Contains(st, `"masked":{"account-id":1,"ec2-instance":1}`) {
		t.Fatalf("/stats: %d %s", code, st)
	}
	// the log line names the token and counts, never a value
	var line struct {
		ID       string         `json:"request_id"`
		Token    string         `json:"token"`
		Status   int            `json:"status"`
		Masked   map[string]int `json:"masked"`
		Unmasked map[string]int `json:"unmasked"`
	}
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.ID != reqID || line.Token != "alice" || line.Status != 200 || line.Masked["ec2-instance"] != 1 || line.Unmasked["ec2-instance"] != 2 {
		t.Fatalf("request log line: %+v", line)
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

func TestListenPolicy(t *testing.T) {
	for _, c := range []struct {
		addr                string
		auth, tls, insecure bool
		ok                  bool
	}{
		{"127.0.0.1:8787", false, false, false, true},
		{"[::1]:8787", false, false, false, true},
		{"localhost:8787", true, false, false, true},
		{"0.0.0.0:8787", false, true, false, false},
		{"0.0.0.0:8787", true, false, false, false},
		{"0.0.0.0:8787", true, true, false, true},
		{"10.1.2.3:8787", true, false, true, true},
		{":8787", true, false, false, false},
		{"nonsense", true, true, false, false},
	} {
		err := ListenPolicy(c.addr, c.auth, c.tls, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("ListenPolicy(%q, auth=%v, tls=%v, insecure=%v) = %v", c.addr, c.auth, c.tls, c.insecure, err)
		}
	}
}

// Run: after the signal, a stream in flight finishes; new connections are
// refused; Run returns.
func TestRunDrainsStreams(t *testing.T) {
	g := newTestGateway(t, nil)
	g.api.SetPace(20 * time.Millisecond) // about a second for the whole answer
	tok := g.token(t, "alice", RoleUser)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, "", "", 10*time.Second) }()
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(messagesBody(true)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	cancel() // as SIGTERM does
	// while the stream drains, /readyz says 503 and a new call is refused
	// with 503 (a load balancer and the client's retry move on)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := statusOf(t, http.MethodGet, base+"/readyz", "", nil); st == http.StatusServiceUnavailable {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d 5 s into draining, want 503", st)
		}
	}
	if st := statusOf(t, http.MethodPost, base+"/v1/messages", tok, messagesBody(false)); st != http.StatusServiceUnavailable {
		t.Fatalf("a new call during the drain got %d, want 503", st)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the stream in flight was cut: %v", err)
	}
	all := string(first) + string(rest)
	if !strings.Contains(all, "event: message_stop") {
		t.Fatal("the stream in flight did not finish")
	}
	text, toolJSON, err := fakeapi.Streamed([]byte(all))
	if err != nil {
		t.Fatal(err)
	}
	if text != fakeapi.Answer(origInstance, origAccount) || toolJSON != fakeapi.ToolInput(origInstance, origAccount) {
		t.Fatal("the drained stream's text is not the model's answer with the originals restored")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stream finished")
	}
	if !stopsAccepting(ln.Addr().String(), 5*time.Second) {
		t.Fatal("new connections were still accepted after the drain")
	}
}

// statusOf makes one call and returns its status.
func statusOf(t *testing.T, method, url, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
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

// Off loopback the gateway serves TLS: a client that trusts the
// certificate gets through; the token still decides.
func TestRunTLS(t *testing.T) {
	g := newTestGateway(t, nil)
	tok := g.token(t, "alice", RoleUser)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, certFile, keyFile, time.Second) }()
	defer func() {
		cancel()
		<-done
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+ln.Addr().String()+"/v1/messages", bytes.NewReader(messagesBody(false)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !strings.Contains(string(body), origInstance) {
		t.Fatalf("over TLS: status %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	// plain HTTP to the TLS port gets nothing through
	plain, err := http.Post("http://"+ln.Addr().String()+"/v1/messages", "application/json", bytes.NewReader(messagesBody(false)))
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
	if n := g.api.Hits.Load(); n != 1 {
		t.Fatalf("upstream hits %d, want 1", n)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "claude-secure test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestIsSelf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		up   string
		self bool
	}{
		{"http://127.0.0.1:" + port, true},
		{"http://localhost:" + port + "/", true},
		{"http://[::1]:" + port, true},
		{"http://127.0.0.1:1", false},
		{"https://api.anthropic.com", false},
		{"https://api.anthropic.com:" + port, false},
	} {
		u, _ := url.Parse(c.up)
		if got := IsSelf(u, ln.Addr()); got != c.self {
			t.Errorf("IsSelf(%s) = %v", c.up, got)
		}
	}
}

// stopsAccepting reports whether connections to addr are refused within d.
func stopsAccepting(addr string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
	}
	return false
}
