package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

func TestListenPolicy(t *testing.T) {
	for _, c := range []struct {
		addr                string
		auth, tls, insecure bool
		ok                  bool
	}{
		{"127.0.0.1:8787", false, false, false, true},
		{"[::1]:8787", false, false, false, true},
		{"localhost:8787", true, false, false, true},
		{"0.0.0.0:8787", false, true, false, false},
		{"0.0.0.0:8787", true, false, false, false},
		{"0.0.0.0:8787", true, true, false, true},
		{"10.1.2.3:8787", true, false, true, true},
		{":8787", true, false, false, false},
		{"nonsense", true, true, false, false},
	} {
		err := ListenPolicy(c.addr, c.auth, c.tls, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("ListenPolicy(%q, auth=%v, tls=%v, insecure=%v) = %v", c.addr, c.auth, c.tls, c.insecure, err)
		}
	}
}

// Run: after the signal, a stream in flight finishes; new connections are
// refused; Run returns.
func TestRunDrainsStreams(t *testing.T) {
	g := newTestGateway(t, nil)
	g.api.SetPace(20 * time.Millisecond) // about a second for the whole answer
	tok := g.token(t, "alice", RoleUser)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, "", "", 10*time.Second) }()
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(messagesBody(true)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	cancel() // as SIGTERM does
	// while the stream drains, /readyz says 503 and a new call is refused
	// with 503 (a load balancer and the client's retry move on)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := statusOf(t, http.MethodGet, base+"/readyz", "", nil); st == http.StatusServiceUnavailable {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d 5 s into draining, want 503", st)
		}
	}
	if st := statusOf(t, http.MethodPost, base+"/v1/messages", tok, messagesBody(false)); st != http.StatusServiceUnavailable {
		t.Fatalf("a new call during the drain got %d, want 503", st)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the stream in flight was cut: %v", err)
	}
	all := string(first) + string(rest)
	if !strings.Contains(all, "event: message_stop") {
		t.Fatal("the stream in flight did not finish")
	}
	text, toolJSON, err := fakeapi.Streamed([]byte(all))
	if err != nil {
		t.Fatal(err)
	}
	if text != fakeapi.Answer(origInstance, origAccount) || toolJSON != fakeapi.ToolInput(origInstance, origAccount) {
		t.Fatal("the drained stream's text is not the model's answer with the originals restored")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stream finished")
	}
	if !stopsAccepting(ln.Addr().String(), 5*time.Second) {
		t.Fatal("new connections were still accepted after the drain")
	}
}

// statusOf makes one call and returns its status.
func statusOf(t *testing.T, method, url, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Off loopback the gateway serves TLS: a client that trusts the
// certificate gets through; the token still decides.
func TestRunTLS(t *testing.T) {
	g := newTestGateway(t, nil)
	tok := g.token(t, "alice", RoleUser)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln, certFile, keyFile, time.Second) }()
	defer func() {
		cancel()
		<-done
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+ln.Addr().String()+"/v1/messages", bytes.NewReader(messagesBody(false)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !strings.Contains(string(body), origInstance) {
		t.Fatalf("over TLS: status %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	// plain HTTP to the TLS port gets nothing through
	plain, err := http.Post("http://"+ln.Addr().String()+"/v1/messages", "application/json", bytes.NewReader(messagesBody(false)))
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
	if n := g.api.Hits.Load(); n != 1 {
		t.Fatalf("upstream hits %d, want 1", n)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "claude-secure test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestIsSelf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		up   string
		self bool
	}{
		{"http://127.0.0.1:" + port, true},
		{"http://localhost:" + port + "/", true},
		{"http://[::1]:" + port, true},
		{"http://127.0.0.1:1", false},
		{"https://api.anthropic.com", false},
		{"https://api.anthropic.com:" + port, false},
	} {
		u, _ := url.Parse(c.up)
		if got := IsSelf(u, ln.Addr()); got != c.self {
			t.Errorf("IsSelf(%s) = %v", c.up, got)
		}
	}
}

// stopsAccepting reports whether connections to addr are refused within d.
func stopsAccepting(addr string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
	}
	return false
}
