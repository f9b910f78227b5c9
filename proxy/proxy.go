// Package proxy is the masking proxy: [Handler] masks every request,
// forwards it and unmasks the answer; [Proxy] is the loopback session proxy
// that claude-secure runs in its own process for its child. (The gateway
// that `claude-secure serve` runs puts the same Handler behind tokens.)
//
// Start a session with [New]: it listens on 127.0.0.1 on an ephemeral port and
// returns a [Proxy] whose [Proxy.BaseURL] (with a per-session secret in the
// path) is what the child gets as ANTHROPIC_BASE_URL. Every request body to
// the Messages API is masked before it is forwarded; every response is
// unmasked on its way back, streamed events included. A request that
// cannot be masked is refused with an error in the Anthropic error shape
// and nothing is sent upstream.
//
// The proxy engine is goproxy: requests with relative paths reach its
// NonproxyHandler, which checks the secret and the Host, points the request
// at the upstream and hands it back to goproxy, whose request and response
// handlers mask and unmask. The transport is our own: TLS verified, no
// proxy from the environment (children get proxy variables we must not
// loop through), HTTP/2, pooled connections.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/elazarl/goproxy"
)

// DefaultMaxBody bounds a request body; larger ones are refused.
const DefaultMaxBody = 256 << 20

// Options configure a Proxy.
type Options struct {
	// Upstream is where requests go, e.g. https://api.anthropic.com.
	Upstream *url.URL
	// Engine masks and unmasks.
	Engine *mask.Engine
	// Transport sends requests upstream once masked: NewTransport by
	// default; tests, and programs masking in-process (package
	// claudesecure), give their own.
	Transport http.RoundTripper
	// Audit receives one JSON line per request; nil discards.
	Audit *slog.Logger
	// AllowPaths are extra paths whose request bodies may be forwarded;
	// every string in them is masked.
	AllowPaths []string
	// MaxBody bounds request bodies (DefaultMaxBody when 0).
	MaxBody int64
	// Addr is the listen address of a session proxy; only loopback
	// addresses are accepted. Default 127.0.0.1:0.
	Addr string
	// Observe, if set, is called when each request is done.
	Observe func(Record)
	// PerCaller makes the handler a gateway's: calls without a body are
	// forwarded by path only, and a message batch's calls only for the
	// caller that created it.
	PerCaller bool
	// Provider is the model provider behind Upstream; Anthropic() when nil.
	Provider Provider
	// Batches keeps the restore set of each message batch, so its results
	// are restored even when fetched by another process; nil keeps them
	// in memory only.
	Batches BatchStore
}

// BatchStore keeps what each message batch's results may restore: the
// pseudonyms that masking the batch's requests produced. The id it is given
// names the batch and the caller that created it together: another caller
// fetching the results restores nothing. The encrypted store implements it.
type BatchStore interface {
	SaveBatch(id string, pseudonyms []string) error
	LoadBatch(id string) ([]string, bool, error)
}

// Record describes one finished request: names and counts, never a value.
type Record struct {
	ID     string
	Caller string // who sent it, for a gateway; "" in a session
	Method string
	Path   string
	// Status is what the client got; UpstreamStatus what upstream said
	// (0 if the request never reached it).
	Status, UpstreamStatus int
	// Refusal names why the request was not forwarded, or "".
	Refusal           string
	Duration          time.Duration
	BytesIn, BytesOut int64
	Masked, Unmasked  mask.Stats
}

// Handler masks requests, forwards them upstream and unmasks the answers.
// It has no front door of its own: a session Proxy puts it behind a
// secret, a gateway behind tokens.
type Handler struct {
	opts     Options
	provider Provider
	gp       *goproxy.ProxyHttpServer
	tr       http.RoundTripper // the upstream leg
	stats    *Stats
	batches  batchSets
	slotsMu  sync.Mutex
	slots    map[string]*callerSlots
}

// NewHandler returns the masking pipeline for opts.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Upstream == nil || opts.Engine == nil {
		return nil, errors.New("proxy needs an upstream and an engine")
	}
	if opts.Upstream.Scheme != "https" && opts.Upstream.Scheme != "http" {
		return nil, fmt.Errorf("upstream must be an http or https URL")
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Audit == nil {
		opts.Audit = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	h := &Handler{opts: opts, provider: opts.Provider, tr: opts.Transport, stats: newStats()}
	if h.provider == nil {
		h.provider = Anthropic()
	}
	if h.tr == nil {
		h.tr = NewTransport()
	}
	h.gp = h.newGoproxy()
	return h, nil
}

// Stats returns the counters of every request so far.
func (h *Handler) Stats() Snapshot { return h.stats.snapshot() }

// Proxy is a running session proxy: the Handler behind a loopback
// listener and a per-session secret.
type Proxy struct {
	*Handler
	secret string
	ln     net.Listener
	srv    *http.Server
	hosts  map[string]bool
	wg     sync.WaitGroup
}

// New starts listening. Call Start to accept requests.
func New(opts Options) (*Proxy, error) {
	h, err := NewHandler(opts)
	if err != nil {
		return nil, err
	}
	opts = h.opts
	ln, secret, err := listenLoopback(opts.Addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		Handler: h,
		secret:  secret,
		ln:      ln,
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p.hosts = map[string]bool{}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		p.hosts[fmt.Sprintf("%s:%d", h, port)] = true
	}
	// requests with relative paths reach goproxy's NonproxyHandler: the
	// session's front door, which points them upstream and hands them back
	h.gp.NonproxyHandler = http.HandlerFunc(p.front)
	p.srv = &http.Server{
		Handler:           h.gp,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return p, nil
}

// listenLoopback listens on addr (127.0.0.1:0 when empty), a loopback
// address only, and makes a session's secret.
func listenLoopback(addr string) (net.Listener, string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("invalid listen address: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, "", errors.New("the proxy listens on loopback addresses only")
	}
	var sec [16]byte
	if _, err := rand.Read(sec[:]); err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("failed to listen: %w", err)
	}
	return ln, hex.EncodeToString(sec[:]), nil
}

// NewTransport returns the upstream transport: TLS verified against the
// system roots, no proxy from the environment, HTTP/2, pooled.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// BaseURL is what the child gets as ANTHROPIC_BASE_URL: the proxy's
// address with the session secret as the first path segment.
func (p *Proxy) BaseURL() string {
	return fmt.Sprintf("http://%s/%s", p.ln.Addr().String(), p.secret)
}

// Addr is the listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Start serves in the background.
func (p *Proxy) Start() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(p.ln)
	}()
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes everything.
func (p *Proxy) Shutdown(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		p.srv.Close()
	}
	p.wg.Wait()
	return err
}

type ctxKey struct{}

// reqInfo travels with a request from the handlers to the audit line. All
// of one request's work (masking, unmasking the response as goproxy copies
// it, the audit line) runs on the request's own goroutine.
type reqInfo struct {
	id       string
	caller   string
	owner    string // whose message batches the request may reach
	start    time.Time
	path     string
	bytesIn  int64
	upstream int    // upstream's status code, once it answered
	refusal  string // why the request was not forwarded
	masked   mask.Stats
	unmasked mask.Stats
	// restore is what the answer may restore: the pseudonyms that masking
	// this request produced from originals (for batch results, those of
	// the batch's creation)
	restore *mask.Restore
	bufs    [][]byte // recycled when the request is done
	// cut is set when the upstream's answer broke off after its headers
	// were passed on: the client's connection is then aborted, so that it
	// does not take the part it got for the whole
	cut bool
}

// restoreSet returns the request's restore set (empty if nothing set one).
func (info *reqInfo) restoreSet(e *mask.Engine) *mask.Restore {
	if info.restore == nil {
		info.restore = e.NewRestore()
	}
	return info.restore
}

func (p *Handler) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Verbose = false
	gp.KeepDestinationHeaders = true
	// every request goes upstream through roundTrip (p.tr); goproxy's own
	// transport serves nothing (CONNECT is refused), but must not be its
	// default, which skips TLS checks
	gp.Tr = NewTransport()
	// requests without an absolute URL reach goproxy only through a front
	// door that set one (a session proxy installs its own here)
	gp.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.refuseNotProxy(w, r)
	})
	// not a forward proxy: no CONNECT tunnels, no absolute URLs from clients
	gp.OnRequest().HandleConnect(goproxy.AlwaysReject)
	gp.OnRequest().DoFunc(func(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		// errors become Anthropic-shaped responses, not goproxy's plain 500
		ctx.RoundTripper = goproxy.RoundTripperFunc(p.roundTrip)
		info, ok := infoOf(r)
		if !ok {
			// an absolute URL straight from a client: it came through no
			// front door
			return r, p.refusal(r, http.StatusForbidden, "permission_error", "not_proxy", notProxy, "")
		}
		return p.maskRequest(r, info)
	})
	gp.OnResponse().DoFunc(func(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
		return p.unmaskResponse(resp, ctx)
	})
	return gp
}

// notProxy answers what asks this proxy to be a forward proxy (CONNECT, an
// absolute URL) or reaches it other than through a front door.
const notProxy = "this proxy forwards to its upstream only"

func (p *Handler) refuseNotProxy(w http.ResponseWriter, r *http.Request) {
	p.Refuse(w, r, http.StatusForbidden, "permission_error", "not_proxy", notProxy)
}

// front is the first stop of every request to a session proxy: it
// accepts only the session's own child (secret and Host), then forwards.
func (p *Proxy) front(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || r.URL.IsAbs() {
		p.refuseNotProxy(w, r)
		return
	}
	if r.Header.Get("Origin") != "" {
		// a page in a browser: the child is never one
		p.Refuse(w, r, http.StatusForbidden, "permission_error", "browser_origin", "request refused: it comes from a web page (Origin header)")
		return
	}
	if !p.hosts[r.Host] {
		// DNS rebinding: a page on another origin resolving to 127.0.0.1
		p.Refuse(w, r, http.StatusForbidden, "permission_error", "foreign_host", "request refused: Host is not this proxy")
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == sessionProofPath {
		p.answerProof(w, r)
		return
	}
	rest, ok := p.checkSecret(r.URL.Path)
	if !ok {
		p.Refuse(w, r, http.StatusForbidden, "permission_error", "no_secret", "request refused: missing or wrong session secret")
		return
	}
	p.Forward(w, r, rest, "")
}

// Forward masks r, sends it to path on the upstream and unmasks the answer
// into w. caller names the sender in the audit line and the Record, and
// owns the message batches it creates.
func (p *Handler) Forward(w http.ResponseWriter, r *http.Request, path, caller string) {
	p.ForwardFor(w, r, path, caller, caller)
}

// ForwardFor is Forward for a sender whose batches belong to owner, which
// tells it from an earlier sender of the same name (a gateway token made
// again under a revoked one's name). When the upstream's answer breaks off
// after its headers were passed on, it panics with http.ErrAbortHandler
// once the request is logged, as net/http servers abort a response.
func (p *Handler) ForwardFor(w http.ResponseWriter, r *http.Request, path, caller, owner string) {
	if r.Method == http.MethodConnect || r.URL.IsAbs() {
		p.refuseNotProxy(w, r)
		return
	}
	up := *p.opts.Upstream
	base := strings.TrimSuffix(up.EscapedPath(), "/")
	up.Path = strings.TrimSuffix(up.Path, "/") + path
	up.RawPath = ""
	if raw, ok := rawRest(r.URL, path); ok {
		// as the client escaped it: a model's ID may hold an escaped '/'
		up.RawPath = base + raw
	}
	up.RawQuery = r.URL.RawQuery
	r2 := r.Clone(r.Context())
	r2.Trailer = nil // trailers would carry values around the masking
	r2.URL = &up
	r2.Host = up.Host
	r2.RequestURI = ""
	info := &reqInfo{id: newRequestID(), caller: caller, owner: owner, start: time.Now(), path: path, masked: mask.Stats{}, unmasked: mask.Stats{}}
	r2 = r2.WithContext(context.WithValue(r2.Context(), ctxKey{}, info))
	// the id the audit line carries, for the client to quote
	w.Header().Set("X-Claude-Secure-Request-Id", info.id)
	aw := &auditWriter{ResponseWriter: w, p: p, r: r2, info: info}
	p.gp.ServeHTTP(aw, r2)
	aw.done()
	cut := info.cut
	info.release()
	if cut {
		// as a server does with an answer it cannot finish
		panic(http.ErrAbortHandler)
	}
}

// rawRest returns the escaped form of path, the end of u's path after a
// prefix a front door took off (the session's secret).
func rawRest(u *url.URL, path string) (string, bool) {
	if len(path) > len(u.Path) || !strings.HasSuffix(u.Path, path) {
		return "", false
	}
	prefix := u.Path[:len(u.Path)-len(path)]
	raw, ok := strings.CutPrefix(u.EscapedPath(), prefix)
	if !ok {
		return "", false
	}
	if dec, err := url.PathUnescape(raw); err != nil || dec != path {
		return "", false
	}
	return raw, true
}

// checkSecret strips "/<secret>" from the path, comparing in constant time.
func (p *Proxy) checkSecret(path string) (string, bool) {
	if len(path) < len(p.secret)+1 || path[0] != '/' {
		return "", false
	}
	got := path[1 : 1+len(p.secret)]
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.secret)) != 1 {
		return "", false
	}
	rest := path[1+len(p.secret):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "cs_" + hex.EncodeToString(b[:])
}

// infoOf returns the record Forward attached to a request. Every step of
// the pipeline reads it there; a request without one did not come through
// Forward, and is refused wherever that is found.
func infoOf(r *http.Request) (*reqInfo, bool) {
	info, ok := r.Context().Value(ctxKey{}).(*reqInfo)
	return info, ok && info != nil
}

// noRecord answers a request that reached the pipeline without the record
// Forward attaches: nothing is known of what masking it produced, so it is
// not sent, and an answer to it is not restored (noRecordAnswer).
const (
	noRecord       = "internal error: the request lost its record on the way through the proxy; nothing was sent"
	noRecordAnswer = "internal error: the request lost its record on the way through the proxy; its answer is not passed on"
)

// roundTrip sends a request upstream; failures become a 502 in the
// Anthropic error shape.
func (p *Handler) roundTrip(r *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
	info, ok := infoOf(r)
	if !ok {
		return p.refusal(r, http.StatusInternalServerError, "api_error", "no_record", noRecord, ""), nil
	}
	resp, err := p.tr.RoundTrip(r)
	if err != nil {
		if r.Context().Err() != nil {
			info.refusal = "client_gone"
			return errorResponse(r, 499, "api_error", "client went away"), nil
		}
		info.refusal = "upstream_unreachable"
		return errorResponse(r, http.StatusBadGateway, "api_error", "upstream unreachable: "+describeNetErr(err)), nil
	}
	info.upstream = resp.StatusCode
	// the header marks this proxy's own refusals, which are not unmasked;
	// from the upstream it means nothing
	resp.Header.Del("X-Claude-Secure-Error")
	if isRedirect(resp) {
		resp.Body.Close()
		info.refusal = "redirect"
		return errorResponse(r, http.StatusBadGateway, "api_error",
			fmt.Sprintf("the upstream answered %d, a redirect; it is not passed on, since a client would send its request again, unmasked, to the new address (check the upstream URL: an http:// address that redirects to https://?)", resp.StatusCode)), nil
	}
	return resp, nil
}

// describeNetErr names the failure without echoing anything from bodies.
func describeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
