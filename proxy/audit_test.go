package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
)

func TestAuditLogHasCountsNeverValues(t *testing.T) {
	up := newFakeAPI(t)
	var log syncbuf.Buffer
	p, _ := startProxy(t, up.URL, func(o *Options) { o.Audit = slog.New(slog.NewJSONHandler(&log, nil)) })
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.Shutdown(context.Background())
	line := strings.TrimSpace(log.String())
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("audit line is not JSON: %v", err)
	}
	for _, k := range []string{"time", "request_id", "method", "path", "status", "duration_ms", "bytes_in", "bytes_out", "masked", "unmasked"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("audit line lacks %q", k)
		}
	}
	if rec["path"] != "/v1/messages" || rec["status"] != float64(200) {
		t.Errorf("audit path/status wrong: %v %v", rec["path"], rec["status"])
	}
	if m, _ := rec["masked"].(map[string]any); m["ec2-instance"] != float64(1) || m["ipv4"] != float64(1) {
		t.Errorf("masked counts: %v", rec["masked"])
	}
	for _, o := range originals {
		if strings.Contains(line, o) {
			t.Errorf("an original (%d bytes) is in the audit log", len(o))
		}
	}
	if strings.Contains(line, strings.Split(p.BaseURL(), "/")[3]) {
		t.Error("the session secret is in the audit log")
	}
}

func TestClientGoingAwayCancelsUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	p, _ := startProxy(t, up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody("hi")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	resp.Body.Read(buf)
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client went away")
	}
}

func TestCompressedResponseIsDecodedAndUnmasked(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("upstream was not offered gzip")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		json.NewEncoder(zw).Encode(map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": maskedText(t, body)}}})
		zw.Close()
	})
	p, _ := startProxy(t, up.URL)
	req, _ := http.NewRequest("POST", p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody(clientText)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "br") // something we could not read back
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Contains(body, []byte(clientText)) {
		t.Errorf("response not decoded and unmasked (encoding %q)", resp.Header.Get("Content-Encoding"))
	}
}

func TestBatchResultsUnmasked(t *testing.T) {
	var pseudo string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodPost {
			var b struct {
				Requests []struct {
					Params struct {
						Messages []struct{ Content string } `json:"messages"`
					} `json:"params"`
				} `json:"requests"`
			}
			json.Unmarshal(body, &b)
			pseudo = b.Requests[0].Params.Messages[0].Content
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"msgbatch_1","type":"message_batch"}`))
			return
		}
		w.Header().Set("Content-Type", "application/binary")
		for i := 0; i < 3; i++ {
			line, _ := json.Marshal(map[string]any{"custom_id": "r", "result": map[string]any{"type": "succeeded", "message": map[string]any{"content": []any{map[string]any{"type": "text", "text": pseudo}}}}})
			w.Write(append(line, '\n'))
		}
	})
	p, _ := startProxy(t, up.URL)
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r", "params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": clientText}}}}}})
	resp := post(t, p.BaseURL()+"/v1/messages/batches", batch)
	resp.Body.Close()
	resp, err := http.Get(p.BaseURL() + "/v1/messages/batches/msgbatch_1/results")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if bytes.Count(body, []byte(clientText)) != 3 {
		t.Error("batch results not unmasked")
	}
}

// FuzzSSEUnmasker: any stream, cut anywhere, gives the same output as the
// same stream read whole, and never panics.
func FuzzSSEUnmasker(f *testing.F) {
	e, _ := mask.New([]byte("fuzz"), mask.NewMemoryMappings(), nil)
	masked, _ := e.MaskBytes([]byte(clientText), nil)
	_, restore, _ := e.MaskRequest(requestBody(clientText), mask.BodyMessages, nil)
	f.Add(script(string(masked), toolJSONFor(string(masked)), []int{5, 17}, []int{3, 30}), uint8(7))
	f.Add([]byte("event: x\ndata: not json\n\ndata: {\"type\":\"content_block_delta\",\"index\":1}\r\n\r\n"), uint8(1))
	f.Add([]byte("data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ab\\\\n\\u00e9\"}}\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, n uint8) {
		run := func(chunk int) []byte {
			u := newSSEUnmasker(io.NopCloser(&chunkReader{b: stream, n: chunk}), e, &reqInfo{masked: mask.Stats{}, unmasked: mask.Stats{}, restore: restore})
			out, err := io.ReadAll(u)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		whole := run(len(stream) + 1)
		if got := run(1 + int(n)%17); !bytes.Equal(got, whole) {
			t.Fatalf("chunked output differs at byte %d", firstDiffBytes(got, whole))
		}
	})
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(c.b), len(p))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
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
