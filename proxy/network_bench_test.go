package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// The network-mode benchmarks compare a client talking TLS straight to a
// fake upstream (direct) with the same client going through network mode
// (network): CONNECT to the proxy, TLS with the session CA's leaf, masking,
// and TLS again from the proxy to the same fake; and, for scale, with run's
// base-URL proxy (run: plain HTTP on loopback, masking, TLS to the fake).
// They report medians.

type networkBench struct {
	direct, network, viaRun *http.Client
	directURL, runURL       string
}

// newNetworkBench starts a TLS fake upstream answering with handler, and
// network mode in front of it for api.anthropic.com. keepAlive false makes
// every request a new connection (and handshake).
func newNetworkBench(b *testing.B, handler http.HandlerFunc, keepAlive bool) *networkBench {
	up := httptest.NewTLSServer(handler)
	b.Cleanup(up.Close)
	ca, err := NewCA([]string{"api.anthropic.com"})
	if err != nil {
		b.Fatal(err)
	}
	upURL, _ := url.Parse(up.URL)
	upRoots := x509.NewCertPool()
	upRoots.AddCert(up.Certificate())
	tr := NewTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: upRoots}
	e, err := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	if err != nil {
		b.Fatal(err)
	}
	// the base-URL proxy of run, in front of the same upstream
	p, err := New(Options{Upstream: upURL, Engine: e, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	b.Cleanup(func() { p.Shutdown(b.Context()) })
	n, err := NewNetwork(NetworkOptions{CA: ca, Route: func(string) (*Handler, string, error) {
		h, err := NewHandler(Options{Upstream: upURL, Engine: e, Transport: tr})
		return h, "", err
	}})
	if err != nil {
		b.Fatal(err)
	}
	n.Start()
	b.Cleanup(func() { n.Shutdown(b.Context()) })
	caRoots := x509.NewCertPool()
	caRoots.AddCert(ca.Certificate())
	pu, _ := url.Parse(n.URL())
	return &networkBench{
		direct: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: upRoots}, DisableKeepAlives: !keepAlive}},
		network: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: caRoots},
			DisableKeepAlives: !keepAlive}},
		viaRun:    &http.Client{Transport: &http.Transport{DisableKeepAlives: !keepAlive}},
		directURL: up.URL,
		runURL:    p.BaseURL(),
	}
}

// run posts body through both clients and reports the p50 time to the
// first byte of the answer (firstByte) or to its end.
func (nb *networkBench) run(b *testing.B, body []byte, firstByte bool) {
	for _, c := range []struct {
		name string
		cl   *http.Client
		base string
	}{{"direct", nb.direct, nb.directURL}, {"run", nb.viaRun, nb.runURL}, {"network", nb.network, "https://api.anthropic.com"}} {
		b.Run(c.name, func(b *testing.B) { postLoop(b, c.cl, c.base+"/v1/messages", body, firstByte) })
	}
}

func streamFirstEvent(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n"))
	w.(http.Flusher).Flush()
	w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
}

var networkBenchBody = requestBody("Summarise the incident on i-0f3a9c2b7d1e4a605 in account 210987654321.")

// BenchmarkNetworkTimeToFirstByte: time to the first byte of a streamed
// answer, connections kept alive.
func BenchmarkNetworkTimeToFirstByte(b *testing.B) {
	newNetworkBench(b, streamFirstEvent, true).run(b, networkBenchBody, true)
}

// BenchmarkNetworkNewConnection: the same, with a new connection (TCP and
// TLS handshakes, and the CONNECT) for every request; the leaf is cached.
func BenchmarkNetworkNewConnection(b *testing.B) {
	newNetworkBench(b, streamFirstEvent, false).run(b, networkBenchBody, true)
}

// BenchmarkNetworkStream2000Events: a 2,000-event streamed answer quoting
// a pseudonym in every delta; total time to read it, per event.
func BenchmarkNetworkStream2000Events(b *testing.B) {
	const events = 2000
	var stream bytes.Buffer
	stream.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n")
	stream.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := range events {
		fmt.Fprintf(&stream, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"step %d on the instance \"}}\n\n", i)
	}
	stream.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	nb := newNetworkBench(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(stream.Bytes())
	}, true)
	nb.run(b, networkBenchBody, false)
}

// BenchmarkLeafFirstUse: what the first connection to a host costs on top
// of a handshake, signing its leaf (later ones find it cached).
func BenchmarkLeafFirstUse(b *testing.B) {
	ca, err := NewCA([]string{"api.anthropic.com"})
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := ca.sign("api.anthropic.com"); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	p50(b, ds)
}
