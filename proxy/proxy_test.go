package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/mask"
)

// The originals a client sends. None may reach the upstream.
var originals = []string{"i-0f3a9c2b7d1e4a605", "210987654321", "10.20.30.40", "acme-orders-archive", "AKIAQ3EGUWTX3KMNPZRX"}

const clientText = "Instance i-0f3a9c2b7d1e4a605 in account 210987654321 at 10.20.30.40 writes to s3://acme-orders-archive with AKIAQ3EGUWTX3KMNPZRX"

// newUpstream starts an upstream that answers as handle says, for what
// the fake API (newFakeAPI) does not do; the test fails if an original
// reaches it.
func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for _, o := range originals {
			if bytes.Contains(body, []byte(o)) || strings.Contains(r.URL.String(), o) {
				t.Errorf("an original (%d bytes) reached the upstream", len(o))
			}
		}
		handle(w, r, body)
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

// memoryEngine is an engine on mappings in memory.
func memoryEngine(t *testing.T) *mask.Engine {
	t.Helper()
	e, err := mask.New([]byte("proxy-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// startProxy starts a session proxy in front of the upstream at upstream.
func startProxy(t *testing.T, upstream string, opts ...func(*Options)) (*Proxy, *mask.Engine) {
	t.Helper()
	e := memoryEngine(t)
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
	return p, o.Engine
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
