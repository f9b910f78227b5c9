package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/syncbuf"
)

// An upstream that answers with a redirect is never passed on: a client
// following a 307 or 308 would send its own request, unmasked, to the new
// address. Go's client follows redirects by itself, so it is the client
// here; the address redirected to receives nothing.
func TestRedirectsAreNotPassedOn(t *testing.T) {
	elsewhere := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("the redirect was followed: a request reached the address it named")
	})
	for _, code := range []int{301, 302, 303, 307, 308} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			http.Redirect(w, r, elsewhere.URL+"/v1/messages", code)
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "redirect") {
			t.Errorf("upstream %d: client got %d, want 502 naming the redirect", code, resp.StatusCode)
		}
	}
	if n := elsewhere.hits.Load(); n != 0 {
		t.Errorf("%d requests reached the redirect's target", n)
	}
}

// A value to mask in the path, the query or a header cannot be masked
// without changing what the request asks for: the request is refused,
// nothing reaches the upstream, and the audit line does not carry it.
func TestValuesOutsideTheBodyAreRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Envoy-External-Address", "X-Original-Forwarded-For", "Cloudfront-Viewer-Address", "X-Amzn-Vpce-Id"} {
			if r.Header.Get(h) != "" {
				t.Errorf("%s reached the upstream", h)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"message","content":[]}`)
	})
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
		before := up.hits.Load()
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
		if up.hits.Load() != before {
			t.Errorf("%s: the request reached the upstream", c.name)
		}
	}
	// what a load balancer in front adds about the client is dropped, not
	// refused: it describes the hop, not the request
	before := len(up.bodies)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hello"), "X-Forwarded-For", originals[2], "X-Real-Ip", originals[2], "Forwarded", "for="+originals[2],
		"X-Envoy-External-Address", originals[2], "X-Original-Forwarded-For", originals[2], "Cloudfront-Viewer-Address", originals[2]+":443", "X-Amzn-Vpce-Id", "vpce-0f3a9c2b7d1e4a605")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.bodies) != before+1 {
		t.Errorf("a request through a load balancer got %d", resp.StatusCode)
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

// A page in a browser can post across origins without asking first, as
// text/plain or a form; such requests, and any that carries an Origin
// header, are refused by a session proxy.
func TestBrowserRequestsAreRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("a browser-shaped request reached the upstream")
	})
	p, _ := startProxy(t, up.URL)
	for _, c := range []struct{ name, ctype, origin string }{
		{"text/plain", "text/plain;charset=UTF-8", ""},
		{"form", "application/x-www-form-urlencoded", ""},
		{"no content type", "", ""},
		{"origin", "application/json", "http://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody("hello")))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want a refusal", c.name, resp.StatusCode)
		}
	}
}

// deflate as RFC 9110 defines it is a zlib stream; some clients send raw
// deflate under that name. Both are read and masked; an answer in either
// is read and restored.
func TestDeflateBodies(t *testing.T) {
	zlibOf := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	rawOf := func(b []byte) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		fw.Write(b)
		fw.Close()
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		enc  func([]byte) []byte
	}{{"zlib", zlibOf}, {"raw", rawOf}} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			out, _ := json.Marshal(map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": maskedText(t, body)}}})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "deflate")
			w.Write(c.enc(out))
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", c.enc(requestBody(clientText)), "Content-Encoding", "deflate")
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(clientText)) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s deflate: status %d, restored %v, encoding %q", c.name, resp.StatusCode, bytes.Contains(got, []byte(clientText)), resp.Header.Get("Content-Encoding"))
		}
	}
}

// An answer in an encoding the proxy cannot read (br, which nobody asked
// for; br named after identity in a second header line; br from an
// upstream that also sends the header this proxy marks its own refusals
// with) cannot be restored: the client gets a clear error, never bytes
// that have lost the header that says how to read them.
func TestUnreadableResponseEncodingIsAnError(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  http.Header
	}{
		{"br", http.Header{"Content-Encoding": {"br"}}},
		{"identity then br", http.Header{"Content-Encoding": {"identity", "br"}}},
		{"marked as a refusal", http.Header{"Content-Encoding": {"br"}, "X-Claude-Secure-Error": {"1"}}},
	} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			w.Header().Set("Content-Type", "application/json")
			for k, v := range c.hdr {
				w.Header()[k] = v
			}
			w.Write([]byte{0x1b, 0x2f, 0x00, 0x00, 0x00})
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(got), `Content-Encoding \"br\"`) {
			t.Errorf("%s: status %d, body %.120q: want 502 naming the encoding", c.name, resp.StatusCode, got)
		}
	}
}

// An upstream that cuts the stream in the middle of an event (its data line
// complete, its blank line missing) releases nothing of that event: the
// client's last event is the error.
func TestStreamCutMidEventReleasesNoneOfIt(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		masked := maskedText(t, body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n")
		io.WriteString(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": "cut: " + masked}})
		io.WriteString(w, "event: content_block_delta\ndata: "+string(d)+"\n")
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	s := collect(t, resp.Body)
	resp.Body.Close()
	if strings.Contains(s.text, "cut: ") {
		t.Error("the event cut short was released")
	}
	last := s.events[len(s.events)-1]
	if last[0] != "error" || !strings.Contains(last[1], "middle of an event") {
		t.Errorf("last event %q %.80q, want the error", last[0], last[1])
	}
}

// A batch request's custom_id goes to the API as it is: one that holds a
// value to mask refuses the request.
func TestStructuralFieldWithAValueIsRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("the request reached the upstream")
	})
	p, _ := startProxy(t, up.URL)
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "host-" + originals[2],
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": "hi"}}}}}})
	resp := post(t, p.BaseURL()+"/v1/messages/batches", batch)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "custom_id") {
		t.Errorf("status %d, want 400 naming the structural fields", resp.StatusCode)
	}
}

// Compressed bodies are counted decompressed against what the API accepts
// (32 MB for a Messages request), and one caller has at most four being
// read at once: eight bodies of 200 MB decompressed, sent at once, are
// refused without the proxy holding more than a few of them, and the
// memory goes back when they are done.
func TestCompressedBodiesAreBounded(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("a body over the limit reached the upstream")
	})
	p, _ := startProxy(t, up.URL)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zw.Write([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"`))
	zeros := make([]byte, 1<<20)
	for i := range zeros {
		zeros[i] = 'a'
	}
	for range 200 {
		zw.Write(zeros)
	}
	zw.Write([]byte(`"}]}`))
	zw.Close()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp := post(t, p.BaseURL()+"/v1/messages", bomb.Bytes(), "Content-Encoding", "gzip")
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	const bound = 600 << 20 // four bodies at a time of 32 MB and the buffers they grow through
	if got := peak.Load(); got > bound {
		t.Errorf("heap peaked at %d MiB while refusing the bodies, want under %d MiB", got>>20, bound>>20)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 100<<20 {
		t.Errorf("%d MiB of heap still in use after the bodies were refused", ms.HeapInuse>>20)
	}
	t.Logf("heap peak %d MiB for eight bodies of 200 MB decompressed", peak.Load()>>20)
}
