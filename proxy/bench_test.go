package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// The proxy benchmarks run the same requests against the same fake upstream
// three times in one run: directly, through a plain reverse proxy that only
// forwards (what any extra hop costs), and through the proxy. They report
// the median (p50) per request.

type bases struct{ direct, hop, proxy string }

func benchUpstream(b *testing.B, e *mask.Engine, handler http.HandlerFunc) bases {
	srv := httptest.NewServer(handler)
	b.Cleanup(srv.Close)
	if e == nil {
		e, _ = mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	}
	u, _ := url.Parse(srv.URL)
	p, err := New(Options{Upstream: u, Engine: e})
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	b.Cleanup(func() { p.Shutdown(b.Context()) })
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0)
	hop := httptest.NewServer(rp)
	b.Cleanup(hop.Close)
	return bases{srv.URL, hop.URL, p.BaseURL()}
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
	urls := benchUpstream(b, nil, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n"))
		w.(http.Flusher).Flush()
		w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	})
	compare(b, urls, requestBody("Summarise the incident on i-0f3a9c2b7d1e4a605 in account 210987654321."), true)
}

// compare posts body to both bases and reports the p50 time to the first
// byte of the answer (firstByte) or to its end.
func compare(b *testing.B, urls bases, body []byte, firstByte bool) {
	for _, c := range []struct{ name, base string }{{"direct", urls.direct}, {"hop", urls.hop}, {"proxy", urls.proxy}} {
		b.Run(c.name, func(b *testing.B) { postLoop(b, client, c.base+"/v1/messages", body, firstByte) })
	}
}

// postLoop posts body to url with cl for the benchmark's iterations and
// reports the p50 time to the first byte of the answer (firstByte) or to
// its end.
func postLoop(b *testing.B, cl *http.Client, url string, body []byte, firstByte bool) {
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		resp, err := cl.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
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
}

// BenchmarkRequest1MB: a ~1 MB Claude Code request body, answered with a
// small JSON message; whole round trip.
func BenchmarkRequest1MB(b *testing.B) {
	body, err := os.ReadFile("../mask/testdata/request-1mb.json")
	if err != nil {
		b.Fatal(err)
	}
	urls := benchUpstream(b, nil, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"type":"message","content":[{"type":"text","text":"ok"}]}`))
	})
	compare(b, urls, body, false)
}

// BenchmarkStream2000Events: a 2,000-event streamed answer, the model
// quoting two of the session's pseudonyms in every delta (an instance and
// an address it was shown); total time to read it all.
func BenchmarkStream2000Events(b *testing.B) {
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	var stream bytes.Buffer
	stream.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n")
	stream.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := 0; i < 1996; i++ {
		// the session masked these originals in an earlier request; the
		// answer carries their pseudonyms
		text, err := e.MaskBytes(fmt.Appendf(nil, "instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256), nil)
		if err != nil {
			b.Fatal(err)
		}
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": string(text)}})
		fmt.Fprintf(&stream, "event: content_block_delta\ndata: %s\n\n", d)
	}
	stream.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	stream.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	b.Run("burst", func(b *testing.B) {
		// as fast as loopback carries it: the per-event cost, undiluted
		urls := benchUpstream(b, e, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			writeChunked(w, stream.Bytes(), 4096)
		})
		compare(b, urls, requestBody("go"), false)
	})
	b.Run("paced", func(b *testing.B) {
		// 20 events a millisecond, still a hundred times faster than a
		// model writes tokens
		events := bytes.SplitAfter(stream.Bytes(), []byte("\n\n"))
		urls := benchUpstream(b, e, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			for i, ev := range events {
				w.Write(ev)
				if i%20 == 19 {
					w.(http.Flusher).Flush()
					time.Sleep(time.Millisecond)
				}
			}
		})
		compare(b, urls, requestBody("go"), false)
	})
}

// BenchmarkUnmaskEvents2000 runs the same 2,000-event answer through the
// event unmasker alone, without the network: its share of the total.
func BenchmarkUnmaskEvents2000(b *testing.B) {
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	start := "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	masked, want := bytes.NewBufferString(start), bytes.NewBufferString(start)
	// the request carried every original the answer quotes: its restore
	// set holds their 4,000 pseudonyms
	var all bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&all, "instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256)
	}
	_, restore, err := e.MaskRequest(requestBody(all.String()), mask.BodyMessages, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		orig := fmt.Sprintf("instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256)
		text, _ := e.MaskBytes([]byte(orig), nil)
		for _, c := range []struct {
			buf  *bytes.Buffer
			text string
		}{{masked, string(text)}, {want, orig}} {
			d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": c.text}})
			fmt.Fprintf(c.buf, "event: content_block_delta\ndata: %s\n\n", d)
		}
	}
	b.SetBytes(int64(masked.Len()))
	var got bytes.Buffer
	for b.Loop() {
		got.Reset()
		u := newSSEUnmasker(io.NopCloser(bytes.NewReader(masked.Bytes())), e, &reqInfo{masked: mask.Stats{}, unmasked: mask.Stats{}, restore: restore})
		if _, err := io.Copy(&got, u); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		b.Fatal("the unmasked stream differs from the originals")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/event")
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
