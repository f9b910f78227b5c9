package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/mask"
)

// The originals a client sends. None may reach the upstream.
var originals = []string{"i-0f3a9c2b7d1e4a605", "210987654321", "10.20.30.40", "acme-orders-archive", "AKIAQ3EGUWTX3KMNPZRX"}

const clientText = "Instance i-0f3a9c2b7d1e4a605 in account 210987654321 at 10.20.30.40 writes to s3://acme-orders-archive with AKIAQ3EGUWTX3KMNPZRX"

type upstream struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	bodies [][]byte
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	u := &upstream{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.bodies = append(u.bodies, body)
		u.mu.Unlock()
		for _, o := range originals {
			if bytes.Contains(body, []byte(o)) || strings.Contains(r.URL.String(), o) {
				t.Errorf("an original (%d bytes) reached the upstream", len(o))
			}
		}
		u.handle(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

// newFakeAPI starts the fake Messages API (internal/fakeapi) as an
// upstream; the test fails if an original reached it.
func newFakeAPI(t *testing.T) *fakeapi.Server {
	api := fakeapi.New(true)
	t.Cleanup(func() {
		for _, o := range originals {
			if api.Saw(o) {
				t.Errorf("an original (%d bytes) reached the upstream", len(o))
			}
		}
		api.Close()
	})
	return api
}

// startProxy starts a session proxy in front of the upstream at upstream.
func startProxy(t *testing.T, upstream string, opts ...func(*Options)) (*Proxy, *mask.Engine) {
	t.Helper()
	e, err := mask.New([]byte("proxy-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(upstream)
	o := Options{Upstream: u, Engine: e}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return p, e
}

func post(t *testing.T, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", "sk-test")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func requestBody(text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-sonnet-4-5", "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": text}},
	})
	return b
}

// maskedText is what the upstream saw as the user's text.
func maskedText(t *testing.T, body []byte) string {
	var req struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		t.Fatalf("upstream got an unexpected body: %v", err)
	}
	return req.Messages[0].Content
}

func TestMasksRequestAndUnmasksJSONResponse(t *testing.T) {
	var sawKey, sawVersion string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		sawKey, sawVersion = r.Header.Get("x-api-key"), r.Header.Get("anthropic-version")
		text := maskedText(t, body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
			"content": []any{
				map[string]any{"type": "thinking", "thinking": "they said: " + text, "signature": "sig"},
				map[string]any{"type": "text", "text": "You said: " + text},
				map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": map[string]any{"command": "echo " + text}},
			},
		})
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages?beta=true", requestBody(clientText), "anthropic-version", "2023-06-01")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if sawKey != "sk-test" || sawVersion != "2023-06-01" {
		t.Error("headers were not forwarded unchanged")
	}
	var got struct {
		Content []struct {
			Type     string         `json:"type"`
			Text     string         `json:"text"`
			Thinking string         `json:"thinking"`
			Input    map[string]any `json:"input"`
		} `json:"content"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Content[1].Text != "You said: "+clientText {
		t.Error("text block not unmasked")
	}
	if got.Content[2].Input["command"] != "echo "+clientText {
		t.Error("tool input not unmasked")
	}
	if strings.Contains(got.Content[0].Thinking, "i-0f3a9c2b7d1e4a605") {
		t.Error("thinking block was rewritten")
	}
	if s := p.Stats(); s.Requests != 1 || s.Masked["ec2-instance"] != 1 || s.Unmasked["ec2-instance"] != 2 {
		t.Errorf("stats: %+v", s)
	}
}

func TestRefusesOtherClients(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	base := "http://" + p.Addr()
	for name, req := range map[string]func() *http.Request{
		"no secret": func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"wrong secret": func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/0123456789abcdef0123456789abcdef/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"foreign host": func() *http.Request {
			r, _ := http.NewRequest("POST", p.BaseURL()+"/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r.Host = "evil.example:80"
			return r
		},
		"absolute URL": func() *http.Request {
			r, _ := http.NewRequest("GET", up.URL+"/v1/models", nil)
			return r
		},
	} {
		t.Run(name, func(t *testing.T) {
			client := http.DefaultClient
			if name == "absolute URL" {
				pu, _ := url.Parse(base)
				client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
			}
			resp, err := client.Do(req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			assertErrorShape(t, resp.Body)
		})
	}
	if up.Hits.Load() != 0 {
		t.Errorf("%d refused requests reached the upstream", up.Hits.Load())
	}
}

func assertErrorShape(t *testing.T, r io.Reader) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(r).Decode(&e); err != nil || e.Type != "error" || !strings.HasPrefix(e.Error.Message, "claude-secure: ") {
		t.Errorf("not an Anthropic error: %+v %v", e, err)
	}
}

func TestNothingForwardedWhenMaskingFails(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	cases := []struct {
		name, path, body, enc string
		status                int
	}{
		{"malformed JSON", "/v1/messages", `{"messages": [`, "", 400},
		{"unknown endpoint with a body", "/v1/files", `{"x": "i-0f3a9c2b7d1e4a605"}`, "", 403},
		{"undecodable encoding", "/v1/messages", `{}`, "br", 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, p.BaseURL()+c.path, []byte(c.body), "Content-Encoding", c.enc)
			defer resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			assertErrorShape(t, resp.Body)
		})
	}
	if up.Hits.Load() != 0 {
		t.Errorf("%d bad requests reached the upstream", up.Hits.Load())
	}
	// bodiless requests elsewhere pass
	resp, err := http.Get(p.BaseURL() + "/v1/models")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET elsewhere: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestGzipRequestBody(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(requestBody(clientText))
	zw.Close()
	resp := post(t, p.BaseURL()+"/v1/messages", buf.Bytes(), "Content-Encoding", "gzip")
	resp.Body.Close()
	if resp.StatusCode != 200 || up.Hits.Load() != 1 {
		t.Fatalf("status %d, hits %d", resp.StatusCode, up.Hits.Load())
	}
	if up.Requests()[0].Header.Get("Content-Encoding") != "" {
		t.Error("Content-Encoding forwarded for a body we decoded")
	}
}

func TestErrorStatusesPassThrough(t *testing.T) {
	for _, status := range []int{429, 529, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				text := maskedText(t, body)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"type":"error","error":{"type":"overloaded_error","message":%q}}`, "about "+text)
			})
			p, _ := startProxy(t, up.URL)
			resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != status || resp.Header.Get("Retry-After") != "7" {
				t.Errorf("status %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if !bytes.Contains(body, []byte("about "+clientText)) || !bytes.Contains(body, []byte("overloaded_error")) {
				t.Error("error body not unmasked or wording changed")
			}
		})
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	e, _ := mask.New([]byte("s"), mask.NewMemoryMappings(), nil)
	p, err := New(Options{Upstream: &url.URL{Scheme: "http", Host: addr}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Shutdown(context.Background())
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hi"))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	assertErrorShape(t, resp.Body)
}

func TestListensOnLoopbackOnly(t *testing.T) {
	e, _ := mask.New([]byte("s"), mask.NewMemoryMappings(), nil)
	u, _ := url.Parse("https://api.anthropic.com")
	if _, err := New(Options{Upstream: u, Engine: e, Addr: "0.0.0.0:0"}); err == nil {
		t.Error("listening on all interfaces was allowed")
	}
	p, err := New(Options{Upstream: u, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || len(strings.TrimPrefix(p.BaseURL(), "http://"+p.Addr()+"/")) < 32 {
		t.Errorf("base URL %q: want loopback and a 128-bit secret", strings.Split(p.BaseURL(), "/")[2])
	}
}

// readEvents parses an event stream into (event, data) pairs.
func readEvents(t *testing.T, r io.Reader) [][2]string {
	t.Helper()
	var out [][2]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev, data string
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			if data != "" {
				out = append(out, [2]string{ev, data})
			}
			ev, data = "", ""
		case strings.HasPrefix(l, "event: "):
			ev = l[7:]
		case strings.HasPrefix(l, "data: "):
			data = l[6:]
		}
	}
	return out
}
