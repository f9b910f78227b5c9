package claudesecure_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"
)

// The transport's benchmarks send the same requests to the same fake
// upstream twice in one run: with a plain http.Transport, and through a
// claudesecure Transport over that same kind of transport. Each reports
// the median (p50) per request; the difference is what masking in-process
// adds.

// BenchmarkTransportMessage: a realistic Claude Code request body
// (mask/testdata/request.json, 10 KB; and request-1mb.json) answered with
// a JSON message that quotes an instance ID; time to the end of the
// answer.
func BenchmarkTransportMessage(b *testing.B) {
	answer := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-fake","content":[{"type":"text","text":"Instance i-0f3a9c2b7d1e4a605 is healthy."}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	for _, file := range []string{"request.json", "request-1mb.json"} {
		body, err := os.ReadFile("../mask/testdata/" + file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file, func(b *testing.B) { compareTransports(b, srv.URL, body, false) })
	}
}

// BenchmarkTransportFirstByte: a streamed answer whose first event comes
// at once; time from sending the request to the first byte of the body.
func BenchmarkTransportFirstByte(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n"))
		w.(http.Flusher).Flush()
		w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	}))
	b.Cleanup(srv.Close)
	body := []byte(`{"model":"claude-fake","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Summarise the incident on i-0f3a9c2b7d1e4a605 in account 210987654321."}]}`)
	compareTransports(b, srv.URL, body, true)
}

func compareTransports(b *testing.B, base string, body []byte, firstByte bool) {
	for _, c := range []struct {
		name string
		rt   func(testing.TB) http.RoundTripper
	}{
		{"direct", func(testing.TB) http.RoundTripper { return &http.Transport{MaxIdleConnsPerHost: 4} }},
		{"transport", func(tb testing.TB) http.RoundTripper {
			return newTransport(tb) // over proxy.NewTransport, pooled likewise
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: c.rt(b)}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if firstByte {
					if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(start))
					io.Copy(io.Discard, resp.Body)
				} else {
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(start))
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
		})
	}
}
