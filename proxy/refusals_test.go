package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
)

// A value to mask in the path, the query or a header cannot be masked
// without changing what the request asks for: the request is refused,
// nothing reaches the upstream, and the audit line does not carry it.
func TestValuesOutsideTheBodyAreRefused(t *testing.T) {
	up := newFakeAPI(t)
	var log syncbuf.Buffer
	p, _ := startProxy(t, up.URL, func(o *Options) { o.Audit = slog.New(slog.NewJSONHandler(&log, nil)) })
	cases := []struct {
		name, method, path string
		hdr                []string
		want               string
	}{
		{"path", http.MethodGet, "/v1/files/" + originals[4], nil, "path"},
		{"query", http.MethodPost, "/v1/messages?note=" + originals[2], nil, "query"},
		{"escaped query", http.MethodGet, "/v1/models?q=acct%3A" + originals[1] + "%20" + originals[0], nil, "query"},
		{"header", http.MethodPost, "/v1/messages", []string{"X-Note", "host " + originals[2]}, "header X-Note"},
		// read with their names, as a detector reads name=value
		{"query with its name", http.MethodPost, "/v1/messages?aws_secret_access_key=q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia", nil, "query"},
		{"header with its name", http.MethodPost, "/v1/messages", []string{"X-Aws-Secret-Access-Key", "q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia"}, "header X-Aws-Secret-Access-Key"},
		{"header name", http.MethodPost, "/v1/messages", []string{"X-" + originals[2], "1"}, "header name"},
		{"cookie", http.MethodPost, "/v1/messages", []string{"Cookie", "k=" + originals[4]}, "header Cookie"},
		{"basic credentials", http.MethodPost, "/v1/messages", []string{"Authorization", "Basic " + originals[4]}, "header Authorization"},
	}
	for _, c := range cases {
		before := up.Hits.Load()
		var body io.Reader
		if c.method == http.MethodPost {
			body = bytes.NewReader(requestBody("hello"))
		}
		req, _ := http.NewRequest(c.method, p.BaseURL()+c.path, body)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "request's "+c.want+" holds a value") {
			t.Errorf("%s: status %d, want 400 naming where the value is", c.name, resp.StatusCode)
		}
		for i, o := range originals {
			if strings.Contains(string(got), o) {
				t.Errorf("%s: the refusal repeats original %d", c.name, i+1)
			}
		}
		if up.Hits.Load() != before {
			t.Errorf("%s: the request reached the upstream", c.name)
		}
	}
	// what a load balancer in front adds about the client is dropped, not
	// refused: it describes the hop, not the request
	before := len(up.Requests())
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hello"), "X-Forwarded-For", originals[2], "X-Real-Ip", originals[2], "Forwarded", "for="+originals[2],
		"X-Envoy-External-Address", originals[2], "X-Original-Forwarded-For", originals[2], "Cloudfront-Viewer-Address", originals[2]+":443", "X-Amzn-Vpce-Id", "vpce-0f3a9c2b7d1e4a605")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.Requests()) != before+1 {
		t.Errorf("a request through a load balancer got %d", resp.StatusCode)
	}
	for _, r := range up.Requests() {
		for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Envoy-External-Address", "X-Original-Forwarded-For", "Cloudfront-Viewer-Address", "X-Amzn-Vpce-Id"} {
			if r.Header.Get(h) != "" {
				t.Errorf("%s reached the upstream", h)
			}
		}
	}
	// the client's own key or token, in its header, passes as it is
	for _, h := range [][]string{{"x-api-key", "sk-ant-api03-" + strings.Repeat("Ab3x", 20)}, {"Authorization", "Bearer sk-ant-oat01-" + strings.Repeat("Ab3x", 20)}} {
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hello"), h...)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a request with credentials in %s got %d", h[0], resp.StatusCode)
		}
	}
	p.Shutdown(context.Background())
	for _, o := range originals {
		if strings.Contains(log.String(), o) {
			t.Errorf("an original (%d bytes) is in the audit log", len(o))
		}
	}
	if !strings.Contains(log.String(), `"refusal":"exposed"`) {
		t.Error("the refusals are not in the audit log")
	}
}

// A batch request's custom_id goes to the API as it is: one that holds a
// value to mask refuses the request.
func TestStructuralFieldWithAValueIsRefused(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "host-" + originals[2],
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": "hi"}}}}}})
	resp := post(t, p.BaseURL()+"/v1/messages/batches", batch)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "custom_id") {
		t.Errorf("status %d, want 400 naming the structural fields", resp.StatusCode)
	}
	if up.Hits.Load() != 0 {
		t.Error("the request reached the upstream")
	}
}

// failingMappings stands for a store that cannot be written.
type failingMappings struct{ *mask.MemoryMappings }

func (failingMappings) Issue([]mask.Mapping, func(mask.Mapping) (string, error)) ([]string, error) {
	return nil, io.ErrShortWrite
}

func TestStoreFailureForwardsNothing(t *testing.T) {
	up := newFakeAPI(t)
	e, err := mask.New([]byte("s"), failingMappings{mask.NewMemoryMappings()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	p, err := New(Options{Upstream: u, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Shutdown(context.Background())
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	assertErrorShape(t, resp.Body)
	if up.Hits.Load() != 0 {
		t.Error("a request was forwarded although its pseudonyms could not be recorded")
	}
	if p.Stats().Errors != 1 {
		t.Error("the failure was not counted")
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

func TestDuplicateKeysAreRefused(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	body := []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"thinking","type":"text","text":"i-0f3a9c2b7d1e4a605","signature":"s"}]}]}`)
	resp := post(t, p.BaseURL()+"/v1/messages", body)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(out, []byte("invalid_request_error")) {
		t.Errorf("status %d, want 400 invalid_request_error", resp.StatusCode)
	}
	if up.Hits.Load() != 0 {
		t.Error("a body with a duplicate key was forwarded")
	}
}
