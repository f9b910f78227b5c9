package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/elazarl/goproxy"
)

// Network is the proxy of network mode: an HTTP(S) forward proxy on
// loopback for tools that do not honour a base URL. A CONNECT to a model
// endpoint (a host its CA signs for) is answered by the proxy itself:
// TLS with a leaf of the session CA, then the masking pipeline of that
// host. Every other CONNECT is a tunnel, its bytes copied both ways and
// never decrypted; goproxy runs those and plain-HTTP requests to other
// hosts. Every request must carry the session's credentials
// (Proxy-Authorization, from the user and password in the proxy URL).
type Network struct {
	opts  NetworkOptions
	user  string
	pass  string
	ln    net.Listener
	srv   *http.Server // the proxy itself
	inner *http.Server // HTTP inside the intercepted TLS connections
	conns *connQueue
	gp    *goproxy.ProxyHttpServer
	wg    sync.WaitGroup

	mu      sync.Mutex
	routes  map[string]*route
	refused atomic.Int64 // requests the proxy refused itself
}

type route struct {
	h      *Handler
	prefix string
	err    error
}

// NetworkOptions configure a Network.
type NetworkOptions struct {
	// Addr is the listen address, a loopback one; 127.0.0.1:0 by default.
	Addr string
	// CA signs for the intercepted hosts, and for nothing else.
	CA *CA
	// Route returns the masking pipeline for an intercepted host (asked
	// once per host), or why that host cannot be served: its requests are
	// then refused, and nothing is sent. prefix is the path under which
	// the host serves the API (a gateway's base URL path), taken off
	// before the pipeline sees the path; requests outside it are refused.
	Route func(host string) (h *Handler, prefix string, err error)
	// Dial reaches the other end of a tunnel, and of plain-HTTP requests
	// to other hosts; a direct dial by default (never a proxy from the
	// environment).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewNetwork starts listening. Call Start to accept requests.
func NewNetwork(opts NetworkOptions) (*Network, error) {
	if opts.CA == nil || opts.Route == nil {
		return nil, errors.New("network mode needs a CA and a route")
	}
	if opts.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		opts.Dial = d.DialContext
	}
	ln, secret, err := listenLoopback(opts.Addr)
	if err != nil {
		return nil, err
	}
	n := &Network{
		opts:   opts,
		user:   "claude-secure",
		pass:   secret,
		ln:     ln,
		conns:  newConnQueue(),
		routes: map[string]*route{},
	}
	n.gp = n.newForwarder()
	discard := log.New(io.Discard, "", 0)
	n.srv = &http.Server{Handler: http.HandlerFunc(n.serve), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: discard}
	n.inner = &http.Server{
		Handler:           http.HandlerFunc(n.serveIntercepted),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          discard,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if ic, ok := c.(*interceptedConn); ok {
				return context.WithValue(ctx, hostKey{}, ic.host)
			}
			return ctx
		},
	}
	return n, nil
}

// newForwarder is goproxy as the forward proxy for plain HTTP to hosts
// that are not intercepted (tunnels are the proxy's own, so that it can
// look at their first record). It verifies upstream TLS (goproxy's
// default does not) and dials directly.
func (n *Network) newForwarder() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Verbose = false
	gp.KeepDestinationHeaders = true
	tr := NewTransport()
	tr.DialContext = n.opts.Dial
	gp.Tr = tr
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(r *http.Request, network, addr string) (net.Conn, error) {
		return n.opts.Dial(r.Context(), network, addr)
	}
	gp.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.refuse(w, r, http.StatusForbidden, "permission_error", "this is claude-secure's network proxy: set it as HTTPS_PROXY")
	})
	gp.OnRequest().HandleConnect(goproxy.AlwaysReject) // never reached: serve takes every CONNECT
	return gp
}

// URL is the proxy's address with the session's credentials, what the
// child gets as HTTPS_PROXY and HTTP_PROXY.
func (n *Network) URL() string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(n.user, n.pass), Host: n.ln.Addr().String()}).String()
}

// Addr is the listening address.
func (n *Network) Addr() string { return n.ln.Addr().String() }

// Start serves in the background.
func (n *Network) Start() {
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		_ = n.srv.Serve(n.ln)
	}()
	go func() {
		defer n.wg.Done()
		_ = n.inner.Serve(n.conns)
	}()
}

// Shutdown stops accepting, waits for intercepted requests in flight
// until ctx ends, then closes everything. Tunnels end with the process.
func (n *Network) Shutdown(ctx context.Context) error {
	err := n.srv.Shutdown(ctx)
	if ierr := n.inner.Shutdown(ctx); err == nil {
		err = ierr
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		n.srv.Close()
		n.inner.Close()
	}
	n.wg.Wait()
	return err
}

// authorized checks the session's credentials in Proxy-Authorization.
func (n *Network) authorized(r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Proxy-Authorization"), "Basic ")
	if !ok {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return false
	}
	want := n.user + ":" + n.pass
	return subtle.ConstantTimeCompare(raw, []byte(want)) == 1
}

// serve is the first stop of every request to the proxy.
func (n *Network) serve(w http.ResponseWriter, r *http.Request) {
	if !n.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="claude-secure"`)
		n.refuse(w, r, http.StatusProxyAuthRequired, "authentication_error", "request refused: missing or wrong proxy credentials (use the HTTPS_PROXY this session set)")
		return
	}
	r.Header.Del("Proxy-Authorization")
	if r.Method != http.MethodConnect {
		if r.URL.IsAbs() && n.opts.CA.Signs(r.URL.Hostname()) {
			// a model endpoint in clear text: never forwarded as it is
			n.refuse(w, r, http.StatusForbidden, "permission_error", "request refused: "+r.URL.Hostname()+" is reached over HTTPS only")
			return
		}
		if looksLikeModelCall(r) {
			// an API call in clear text to a host that is not intercepted
			// (a gateway at an http:// base URL): it would pass unmasked
			n.refuse(w, r, http.StatusForbidden, "permission_error", "request refused, nothing sent: an Anthropic or Bedrock API call in clear text to "+r.URL.Hostname()+", which network mode does not mask; use https, or run without --network")
			return
		}
		n.gp.ServeHTTP(w, r)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !n.opts.CA.Signs(host) {
		n.tunnel(w, r) // never decrypted
		return
	}
	if port != "443" {
		n.refuse(w, r, http.StatusForbidden, "permission_error", "request refused: "+host+" is intercepted on port 443 only, and is not tunnelled elsewhere")
		return
	}
	n.intercept(w, r, host)
}

// looksLikeModelCall says whether a plain-HTTP request carries the marks
// of a model API call: Anthropic's version or key headers, or a SigV4
// signature for Bedrock.
func looksLikeModelCall(r *http.Request) bool {
	for _, h := range []string{"Anthropic-Version", "Anthropic-Beta", "X-Api-Key"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	auth := r.Header.Get("Authorization")
	return strings.HasPrefix(auth, "AWS4-HMAC-SHA256") && strings.Contains(auth, "/bedrock/")
}

// tunnel answers a CONNECT to any other host: its bytes are copied both
// ways, never decrypted. One look is taken at the client's first TLS
// record: a handshake that names a host the CA signs for (a model
// endpoint reached by its address, or by another name) is not passed on,
// since it would reach a model endpoint unmasked.
func (n *Network) tunnel(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		target = net.JoinHostPort(target, "443")
	}
	dctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := n.opts.Dial(dctx, "tcp", target)
	cancel()
	if err != nil {
		n.refuse(w, r, http.StatusBadGateway, "api_error", "the tunnel's host could not be reached: "+describeNetErr(err))
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		n.refuse(w, r, http.StatusInternalServerError, "api_error", "the proxy cannot take over this connection")
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
		c.Close()
		up.Close()
		return
	}
	// the host may speak first: its bytes flow at once
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	first, err := n.firstRecord(rw.Reader)
	if err != nil {
		n.refused.Add(1)
		c.Close()
		up.Close()
		return
	}
	if _, err := up.Write(first); err == nil {
		io.Copy(up, rw.Reader)
	}
	if tc, ok := up.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		up.Close()
	}
}

// errModelHello refuses a tunnel whose TLS handshake names a model
// endpoint.
var errModelHello = errors.New("the tunnel's TLS handshake names a host that is intercepted")

// firstRecord reads what a tunnel's client sends first: for a TLS
// handshake, up to the end of its ClientHello, refused when the server
// name it asks for is one the CA signs; anything else, what has come.
func (n *Network) firstRecord(br *bufio.Reader) ([]byte, error) {
	b, err := br.Peek(1)
	if err != nil {
		return nil, err
	}
	if b[0] != 0x16 { // not a TLS handshake record
		return nil, nil
	}
	rec := &recordingConn{r: br}
	var name string
	errSeen := errors.New("seen")
	tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name = h.ServerName
		return nil, errSeen
	}}).Handshake()
	if name != "" && n.opts.CA.Signs(name) {
		return nil, errModelHello
	}
	return rec.buf.Bytes(), nil
}

// recordingConn is a net.Conn that reads from r and keeps what it read;
// what is written to it goes nowhere.
type recordingConn struct {
	r   io.Reader
	buf bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	return n, err
}
func (c *recordingConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *recordingConn) Close() error                       { return nil }
func (c *recordingConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *recordingConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *recordingConn) SetDeadline(t time.Time) error      { return nil }
func (c *recordingConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *recordingConn) SetWriteDeadline(t time.Time) error { return nil }

// intercept answers a CONNECT to a model endpoint: the proxy is the other
// end, with a leaf of the session CA, and what comes through the TLS
// connection is served by the inner server.
func (n *Network) intercept(w http.ResponseWriter, r *http.Request, host string) {
	leaf, err := n.opts.CA.Leaf(host)
	if err != nil {
		n.refuse(w, r, http.StatusForbidden, "permission_error", "request refused: "+err.Error())
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		n.refuse(w, r, http.StatusInternalServerError, "api_error", "the proxy cannot take over this connection")
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
		c.Close()
		return
	}
	// a client may send its TLS hello before reading the 200: what the
	// server already read is kept
	raw := &bufferedConn{Conn: c, r: rw.Reader}
	tc := tls.Server(raw, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{*leaf},
	})
	n.conns.push(&interceptedConn{Conn: tc, host: host})
}

type hostKey struct{}

// serveIntercepted serves one request that came through an intercepted
// TLS connection: to its host's masking pipeline.
func (n *Network) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	host, _ := r.Context().Value(hostKey{}).(string)
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		r.Host = h
	}
	if host == "" || !strings.EqualFold(strings.TrimSuffix(r.Host, "."), host) {
		// the TLS connection was made for another name
		n.refuse(w, r, http.StatusMisdirectedRequest, "invalid_request_error", "request refused: its Host is not the host it connected to")
		return
	}
	h, prefix, err := n.route(host)
	if err != nil {
		n.refuse(w, r, http.StatusForbidden, "permission_error", "request refused, nothing sent: "+err.Error())
		return
	}
	path := r.URL.Path
	if prefix != "" {
		rest, ok := strings.CutPrefix(path, prefix)
		if !ok || rest != "" && rest[0] != '/' {
			n.refuse(w, r, http.StatusNotFound, "not_found_error", "request refused, nothing sent: the API on "+host+" is under "+prefix)
			return
		}
		path = rest
	}
	h.Forward(w, r, path, "")
}

// route returns host's pipeline, asking Route once per host.
func (n *Network) route(host string) (*Handler, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rt, ok := n.routes[host]
	if !ok {
		h, prefix, err := n.opts.Route(host)
		if err == nil && h == nil {
			err = fmt.Errorf("%s is not served", host)
		}
		rt = &route{h: h, prefix: strings.TrimSuffix(prefix, "/"), err: err}
		n.routes[host] = rt
	}
	return rt.h, rt.prefix, rt.err
}

// Stats sums the counters of every intercepted host's pipeline, and
// counts the requests the proxy itself refused.
func (n *Network) Stats() Snapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	sum := Snapshot{Masked: mask.Stats{}, Unmasked: mask.Stats{}, Refused: int(n.refused.Load())}
	for _, rt := range n.routes {
		if rt.h == nil {
			continue
		}
		s := rt.h.Stats()
		sum.Requests += s.Requests
		sum.Errors += s.Errors
		sum.Refused += s.Refused
		sum.Masked.Add(s.Masked)
		sum.Unmasked.Add(s.Unmasked)
	}
	return sum
}

// refuse answers with an error in the Anthropic shape, and counts it.
func (n *Network) refuse(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	n.refused.Add(1)
	writeResponse(w, errorResponse(r, status, typ, msg))
}

// interceptedConn is a client's TLS connection to an intercepted host.
type interceptedConn struct {
	*tls.Conn
	host string
}

// bufferedConn reads first what a bufio.Reader already holds.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connQueue is a net.Listener of the intercepted connections.
type connQueue struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.closed.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
