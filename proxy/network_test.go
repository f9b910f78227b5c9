package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// startNetwork starts a network-mode proxy that intercepts
// api.anthropic.com (to upstream) and example-models.test (which has no
// route), and dials every host name at the address dial says.
func startNetwork(t *testing.T, upstream string, dial func(addr string) string) (*Network, *CA) {
	t.Helper()
	return startNetworkWith(t, upstream, memoryEngine(t), dial)
}

// startNetworkWith is startNetwork masking with e.
func startNetworkWith(t *testing.T, upstream string, e *mask.Engine, dial func(addr string) string) (*Network, *CA) {
	t.Helper()
	ca, err := NewCA([]string{"api.anthropic.com", "example-models.test"})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(upstream)
	d := &net.Dialer{Timeout: 5 * time.Second}
	n, err := NewNetwork(NetworkOptions{
		CA: ca,
		Route: func(host string) (*Handler, string, error) {
			if host != "api.anthropic.com" {
				return nil, "", fmt.Errorf("no provider is set up for %s", host)
			}
			h, err := NewHandler(Options{Upstream: up, Engine: e})
			return h, "", err
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dial != nil {
				addr = dial(addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n, ca
}

// unreached is the URL of an upstream the test must not reach.
func unreached(t *testing.T) string {
	return newUpstream(t, func(http.ResponseWriter, *http.Request, []byte) {
		t.Error("a request reached the upstream")
	}).URL
}

// networkClient is a client configured as a child in network mode is:
// the proxy (with its credentials, unless proxyURL drops them) and the
// session CA trusted beside roots.
func networkClient(proxyURL string, roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	u, _ := url.Parse(proxyURL)
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(u),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}, Timeout: 10 * time.Second}
}

func TestNetworkModeMasksTheInterceptedHost(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		text := maskedText(t, body)
		if r.URL.Path != "/v1/messages" || r.Header.Get("x-api-key") != "sk-test" {
			t.Errorf("upstream got %s with the key %v", r.URL.Path, r.Header.Get("x-api-key") == "sk-test")
		}
		if r.Header.Get("Proxy-Authorization") != "" {
			t.Error("the proxy credentials reached the upstream")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range []string{
			`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m"}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
			fl.Flush()
		}
		half := len(text) / 2
		for _, part := range []string{text[:half], text[half:]} {
			b, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": part}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			fl.Flush()
		}
		fmt.Fprint(w, "data: {\"type\":\"content_block_stop\",\"index\":0}\n\ndata: {\"type\":\"message_stop\"}\n\n")
	})
	n, ca := startNetwork(t, up.URL, nil)
	c := networkClient(n.URL(), ca.Certificate())
	for i, target := range []string{"https://api.anthropic.com", "https://api.anthropic.com", "https://API.Anthropic.com.:443"} {
		// the second one on the same connection; the third by another
		// spelling of the name
		req, _ := http.NewRequest(http.MethodPost, target+"/v1/messages", bytes.NewReader(requestBody(clientText)))
		req.Header.Set("x-api-key", "sk-test")
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, ev := range readEvents(t, resp.Body) {
			var d struct {
				Delta struct{ Text string }
			}
			json.Unmarshal([]byte(ev[1]), &d)
			text.WriteString(d.Delta.Text)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || text.String() != clientText {
			t.Errorf("request %d: status %d, the streamed answer restored: %v", i+1, resp.StatusCode, text.String() == clientText)
		}
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.CommonName != ca.Certificate().Subject.CommonName {
			t.Error("the answer did not come through the session CA's leaf")
		}
	}
}

// Another host's HTTPS is tunnelled: the client reaches it with its own
// certificate, and its bytes pass untouched, identifiers and all.
func TestNetworkModeTunnelsOtherHostsUntouched(t *testing.T) {
	var got []byte
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.Write(got)
	}))
	t.Cleanup(other.Close)
	n, _ := startNetwork(t, unreached(t), nil)
	c := networkClient(n.URL(), other.Certificate())
	body := requestBody(clientText)
	resp, err := c.Post(other.URL+"/anything", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) || !bytes.Equal(answer, body) {
		t.Error("a tunnelled request or its answer was changed")
	}
	if !resp.TLS.PeerCertificates[0].Equal(other.Certificate()) {
		t.Error("the tunnelled host did not show its own certificate")
	}
	// plain HTTP to another host is forwarded as it is too
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	t.Cleanup(plain.Close)
	resp, err = c.Post(plain.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(answer, body) {
		t.Error("a plain-HTTP request to another host was changed")
	}
}

// Without the session's credentials nothing goes through: no tunnel, no
// interception, no plain request.
func TestNetworkModeRefusesWithoutCredentials(t *testing.T) {
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request without credentials reached a host")
	}))
	t.Cleanup(other.Close)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		t.Error("a request without credentials reached the upstream")
	})
	n, ca := startNetwork(t, up.URL, nil)
	u, _ := url.Parse(n.URL())
	wrong := *u
	wrong.User = url.UserPassword("claude-secure", "0123")
	bare := *u
	bare.User = nil
	for name, proxyURL := range map[string]string{"no credentials": bare.String(), "wrong password": wrong.String()} {
		c := networkClient(proxyURL, ca.Certificate(), other.Certificate())
		for _, target := range []string{"https://api.anthropic.com/v1/messages", other.URL} {
			resp, err := c.Post(target, "application/json", bytes.NewReader(requestBody(clientText)))
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: a request was answered %d", name, resp.StatusCode)
			}
		}
		// a plain request is answered 407 by the proxy itself
		req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr()+"/", nil)
		raw, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(raw, "GET http://example-models.test/ HTTP/1.1\r\nHost: example-models.test\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(raw), req)
		raw.Close()
		if err != nil || resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") == "" {
			t.Errorf("%s: plain request answered %v %v", name, resp, err)
		}
	}
}

// An intercepted host without a pipeline is refused, not tunnelled, and
// a model endpoint in clear text is refused too.
func TestNetworkModeRefusesWhatItCannotMask(t *testing.T) {
	reached := false
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	t.Cleanup(sink.Close)
	n, ca := startNetwork(t, unreached(t), func(string) string { return sink.Listener.Addr().String() })
	c := networkClient(n.URL(), ca.Certificate())
	for _, target := range []string{"https://example-models.test/v1/messages", "http://api.anthropic.com/v1/messages"} {
		resp, err := c.Post(target, "application/json", bytes.NewReader(requestBody(clientText)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", target, resp.StatusCode)
		}
		assertErrorShape(t, resp.Body)
		resp.Body.Close()
	}
	// an API call in clear text to a host that is not intercepted (a
	// gateway at an http:// base URL) is refused too
	req, _ := http.NewRequest(http.MethodPost, sink.URL+"/v1/messages", bytes.NewReader(requestBody(clientText)))
	req.Header.Set("anthropic-version", "2023-06-01")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a plain-HTTP API call to another host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// a model endpoint on another port is not tunnelled either
	raw, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(n.URL())
	pw, _ := u.User.Password()
	req, _ = http.NewRequest(http.MethodConnect, "http://api.anthropic.com:8443", nil)
	req.Host = "api.anthropic.com:8443"
	req.SetBasicAuth(u.User.Username(), pw)
	req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
	req.Header.Del("Authorization")
	req.Write(raw)
	resp, err := http.ReadResponse(bufio.NewReader(raw), req)
	raw.Close()
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT to a model endpoint on another port: %v %v", resp, err)
	}
	if reached {
		t.Error("a request that could not be masked reached a host")
	}
}

// The session CA signs for nothing but its hosts: a leaf for another name,
// even one made with its key, is refused by Go's verifier, and so is one
// for an IP address.
func TestSessionCANameConstraints(t *testing.T) {
	ca, err := NewCA([]string{"api.anthropic.com", "bedrock-runtime.us-east-1.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	verify := func(host string, leaf *tls.Certificate) error {
		_, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots})
		return err
	}
	good, err := ca.Leaf("api.anthropic.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := verify("api.anthropic.com", good); err != nil {
		t.Errorf("the leaf for an intercepted host does not verify: %v", err)
	}
	if again, _ := ca.Leaf("API.anthropic.com"); again != good {
		t.Error("the leaf was not cached")
	}
	if _, err := ca.Leaf("github.com"); err == nil {
		t.Error("the CA made a leaf for a host it does not intercept")
	}
	for _, host := range []string{"github.com", "amazonaws.com", "s3.us-east-1.amazonaws.com", "anthropic.com", "evil-api.anthropic.com.example",
		"evil.api.anthropic.com", "x.bedrock-runtime.us-east-1.amazonaws.com"} {
		forged, err := ca.SignForTest(host)
		if err != nil {
			t.Fatal(err)
		}
		var ce x509.CertificateInvalidError
		if err := verify(host, forged); !errors.As(err, &ce) || ce.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("a leaf for %s signed with the CA's key: %v, want CANotAuthorizedForThisName", host, err)
		}
	}
	// an IP address in a leaf the key signed
	tmpl := &x509.Certificate{
		SerialNumber: serial(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.leafKey.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	ipLeaf, _ := x509.ParseCertificate(der)
	var ce x509.CertificateInvalidError
	if _, err := ipLeaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots}); !errors.As(err, &ce) || ce.Reason != x509.CANotAuthorizedForThisName {
		t.Errorf("a leaf for an IP address signed with the CA's key: %v, want CANotAuthorizedForThisName", err)
	}
	for _, bad := range []string{"127.0.0.1", "com", "*.example.com"} {
		if _, err := NewCA([]string{bad}); err == nil {
			t.Errorf("a CA was made for %q", bad)
		}
	}
	// a client certificate or an email address signed with its key
	clientTmpl := &x509.Certificate{
		SerialNumber: serial(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"api.anthropic.com"}, EmailAddresses: []string{"someone@example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection},
	}
	der, err = x509.CreateCertificate(rand.Reader, clientTmpl, ca.cert, &ca.leafKey.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := x509.ParseCertificate(der)
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection} {
		if _, err := other.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}}); err == nil {
			t.Errorf("a certificate for key usage %v signed with the CA's key verifies", eku)
		}
	}
	if !ca.Certificate().PermittedDNSDomainsCritical || len(ca.Certificate().ExcludedIPRanges) != 2 {
		t.Error("the CA's constraints are not critical, or do not exclude every address")
	}
}

// A host that serves the API under a path (a gateway's base URL): the
// path is taken off before the pipeline reads it, and put back upstream;
// a request outside it is refused.
func TestNetworkModeHostWithAPIPath(t *testing.T) {
	var paths []string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": maskedText(t, body)}}})
	})
	ca, err := NewCA([]string{"llm.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(up.URL + "/gw")
	e := memoryEngine(t)
	n, err := NewNetwork(NetworkOptions{CA: ca, Route: func(string) (*Handler, string, error) {
		h, err := NewHandler(Options{Upstream: base, Engine: e})
		return h, "/gw/", err
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	c := networkClient(n.URL(), ca.Certificate())
	for _, c2 := range []struct {
		path   string
		status int
	}{{"/gw/v1/messages", 200}, {"/v1/messages", 404}, {"/gwx/v1/messages", 404}} {
		resp, err := c.Post("https://llm.example.org"+c2.path, "application/json", bytes.NewReader(requestBody(clientText)))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c2.status {
			t.Errorf("%s: status %d, want %d", c2.path, resp.StatusCode, c2.status)
		}
		if c2.status == 200 && !strings.Contains(string(answer), clientText) {
			t.Errorf("%s: the answer was not restored", c2.path)
		}
	}
	if len(paths) != 1 || paths[0] != "/gw/v1/messages" {
		t.Errorf("the upstream got %q", paths)
	}
}

// connectThrough opens a tunnel to addr through the proxy with its
// credentials, and returns the connection after the proxy's 200.
func connectThrough(t *testing.T, n *Network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	u, _ := url.Parse(n.URL())
	pw, _ := u.User.Password()
	req, _ := http.NewRequest(http.MethodConnect, "http://"+addr, nil)
	req.Host = addr
	req.SetBasicAuth(u.User.Username(), pw)
	req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
	req.Header.Del("Authorization")
	req.Write(c)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", addr, resp, err)
	}
	return &bufferedConn{Conn: c, r: br}
}

// A tunnel whose TLS handshake names a model endpoint (the endpoint
// reached by its address, or by another name) is cut before anything
// reaches the host; a host that speaks first is heard at once.
func TestNetworkModeTunnelRefusesAModelEndpointsHandshake(t *testing.T) {
	got := make(chan string, 4)
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Host
	}))
	other.StartTLS()
	t.Cleanup(other.Close)
	n, _ := startNetwork(t, unreached(t), nil)
	addr := other.Listener.Addr().String()

	c := connectThrough(t, n, addr)
	tc := tls.Client(c, &tls.Config{ServerName: "api.anthropic.com", InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Error("a TLS handshake for api.anthropic.com went through a tunnel to another address")
	}
	// the same tunnel with the host's own name passes
	c = connectThrough(t, n, addr)
	pool := x509.NewCertPool()
	pool.AddCert(other.Certificate())
	tc = tls.Client(c, &tls.Config{ServerName: "example.com", RootCAs: pool})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Errorf("a tunnel with the host's own name: %v", err)
	}
	select {
	case h := <-got:
		t.Errorf("a request reached the host: %q", h)
	default:
	}

	// a host that speaks first
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		s, err := ln.Accept()
		if err == nil {
			s.Write([]byte("SSH-2.0-banner\r\n"))
			s.Close()
		}
	}()
	c = connectThrough(t, n, ln.Addr().String())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "SSH-2.0-banner\r\n" {
		t.Errorf("a host that speaks first was not heard: %q %v", line, err)
	}
}
