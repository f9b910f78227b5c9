package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// The proxy benchmarks run the same requests against the same fake upstream
// twice in one run: directly, and through the proxy. They report the median
// (p50) per request; the difference is what the proxy adds.

func benchUpstream(b *testing.B, handler http.HandlerFunc) (direct, viaProxy string) {
	srv := httptest.NewServer(handler)
	b.Cleanup(srv.Close)
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	u, _ := url.Parse(srv.URL)
	p, err := New(Options{Upstream: u, Engine: e})
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	b.Cleanup(func() { p.Shutdown(b.Context()) })
	return srv.URL, p.BaseURL()
}

func p50(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(0, "ns/op")
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

// BenchmarkTimeToFirstByte: a streamed response whose first event comes at
// once; time from sending the request to the first byte of the body.
func BenchmarkTimeToFirstByte(b *testing.B) {
	direct, proxied := benchUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n"))
		w.(http.Flusher).Flush()
		w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	})
	compare(b, direct, proxied, requestBody("Summarise the incident on i-0f3a9c2b7d1e4a605 in account 210987654321."), true)
}

// compare posts body to both bases and reports the p50 time to the first
// byte of the answer (firstByte) or to its end.
func compare(b *testing.B, direct, proxied string, body []byte, firstByte bool) {
	for _, c := range []struct{ name, base string }{{"direct", direct}, {"proxy", proxied}} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				resp, err := client.Post(c.base+"/v1/messages", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				if firstByte {
					if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(start))
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if !firstByte {
					ds = append(ds, time.Since(start))
				}
			}
			p50(b, ds)
		})
	}
}

// BenchmarkRequest1MB: a ~1 MB Claude Code request body, answered with a
// small JSON message; whole round trip.
func BenchmarkRequest1MB(b *testing.B) {
	body, err := os.ReadFile("../mask/testdata/request-1mb.json")
	if err != nil {
		b.Fatal(err)
	}
	direct, proxied := benchUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"type":"message","content":[{"type":"text","text":"ok"}]}`))
	})
	compare(b, direct, proxied, body, false)
}

// BenchmarkStream2000Events: a 2,000-event streamed answer with pseudonyms
// in its deltas; total time to read it all.
func BenchmarkStream2000Events(b *testing.B) {
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	var stream bytes.Buffer
	stream.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n")
	stream.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := 0; i < 1996; i++ {
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": fmt.Sprintf("instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256)}})
		fmt.Fprintf(&stream, "event: content_block_delta\ndata: %s\n\n", d)
	}
	stream.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	stream.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	_ = e
	direct, proxied := benchUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		writeChunked(w, stream.Bytes(), 4096)
	})
	body := requestBody("go")
	compare(b, direct, proxied, body, false)
}

// eventSource produces a text stream of n bytes of deltas, made on the fly.
type eventSource struct {
	left int
	buf  []byte
	i    int
}

func (s *eventSource) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		if s.left <= 0 {
			return 0, io.EOF
		}
		if s.i == 0 {
			s.buf = []byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		} else {
			s.buf = fmt.Appendf(nil, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"host 10.0.%d.%d and i-%017x, \"}}\n\n", s.i%200, s.i%250, s.i)
		}
		s.i++
		s.left -= len(s.buf)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// BenchmarkSSE100MBMemory streams 100 MB of events through the unmasker and
// reports the largest live heap seen: it must not grow with the stream.
func BenchmarkSSE100MBMemory(b *testing.B) {
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	for b.Loop() {
		u := newSSEUnmasker(io.NopCloser(&eventSource{left: 100 << 20}), e, &reqInfo{masked: mask.Stats{}, unmasked: mask.Stats{}})
		buf := make([]byte, 32<<10)
		var peak uint64
		var ms runtime.MemStats
		for i := 0; ; i++ {
			_, err := u.Read(buf)
			if err == io.EOF {
				break
			}
			if i%20000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.SetBytes(100 << 20)
	}
}
