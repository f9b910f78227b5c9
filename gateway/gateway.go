// Package gateway is the masking gateway that `claude-secure serve` runs:
// the proxy's masking Handler behind per-client tokens with roles, per-token
// rate limits, Prometheus metrics, health checks and JSON logs, for SDKs,
// scripts and a team sharing one host.
//
// Requests go through the same [proxy.Handler] as a `run` session: the
// Messages, count_tokens and Message Batches bodies are masked, every
// answer (streamed or not) is unmasked, anything that cannot be masked is
// refused with nothing forwarded.
package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// TokenHeader carries a gateway token. A token may also be sent as the
// API key (x-api-key) or as a bearer token (Authorization), which is what
// the Anthropic SDKs set from their api_key and auth_token options.
const TokenHeader = "X-Claude-Secure-Token"

// Config configures a gateway.
type Config struct {
	Upstream *url.URL
	// Provider is the model provider behind Upstream (nil: the Anthropic
	// API); Bedrock and Vertex requests are authenticated by the gateway.
	Provider   proxy.Provider
	Engine     *mask.Engine
	Transport  *http.Transport // nil: proxy.NewTransport()
	AllowPaths []string
	MaxBody    int64
	// Tokens authenticate clients: the token file ([Tokens]) or, for
	// replicas, the shared Redis ([RedisTokens]). Nil turns
	// authentication off, which Listen allows on loopback addresses only.
	Tokens TokenStore
	Limits Limits
	// Shared, if set, is the Redis that replicas share (the shared
	// store's): the Limits are counted there, for all replicas together.
	// Nil counts them in this process. A Redis that cannot be reached
	// refuses requests with a 503; none is served unlimited.
	Shared redis.UniversalClient
	// Log receives JSON lines: one per request, and the gateway's own.
	Log *slog.Logger
	// UpstreamAPIKey, if set, is sent as x-api-key for clients that bring
	// no Anthropic credentials of their own.
	UpstreamAPIKey string
	// Ready reports whether the gateway can serve (the store is usable).
	Ready func() error
	// Batches keeps each message batch's restore set (nil: in memory).
	Batches proxy.BatchStore
}

// Server is a gateway. It is an http.Handler; Run serves it on a listener.
type Server struct {
	cfg            Config
	h              *proxy.Handler
	m              *metrics
	metricsHandler http.Handler
	lim            rateLimiter
	// clock, if set, replaces the limiter's own clock (tests)
	clock    func() time.Time
	draining atomic.Bool
	active   atomic.Int64 // API calls in flight
}

// New builds a gateway.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		return nil, errors.New("gateway needs a logger")
	}
	s := &Server{cfg: cfg, m: newMetrics()}
	if cfg.Shared != nil {
		s.lim = newRedisLimiter(cfg.Shared, cfg.Limits)
	} else {
		s.lim = newLimiter(cfg.Limits)
	}
	s.metricsHandler = promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
	tr := cfg.Transport
	if tr == nil {
		// many clients share the upstream: keep enough connections warm
		// for all of them (HTTP/2 upstreams multiplex over a few anyway)
		tr = proxy.NewTransport()
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 512
	}
	h, err := proxy.NewHandler(proxy.Options{
		Upstream:   cfg.Upstream,
		Provider:   cfg.Provider,
		Engine:     cfg.Engine,
		Transport:  tr,
		Audit:      cfg.Log,
		AllowPaths: cfg.AllowPaths,
		MaxBody:    cfg.MaxBody,
		Observe:    s.m.observe,
		Batches:    cfg.Batches,
		PerCaller:  true,
	})
	if err != nil {
		return nil, err
	}
	s.h = h
	return s, nil
}

// Stats returns the counters of every request so far.
func (s *Server) Stats() proxy.Snapshot { return s.h.Stats() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	case "/readyz":
		s.readyz(w)
		return
	}
	if s.draining.Load() {
		// shutting down: load balancers read /readyz, clients retry a 503
		w.Header().Set("Retry-After", "1")
		s.h.Refuse(w, r, http.StatusServiceUnavailable, "api_error", "shutting_down", "the gateway is shutting down; retry")
		return
	}
	if s.cfg.Tokens == nil && !loopbackHost(r.Host) {
		// without tokens only local clients are served; a page on another
		// origin resolving to 127.0.0.1 (DNS rebinding) is not one
		s.h.Refuse(w, r, http.StatusForbidden, "permission_error", "foreign_host", "request refused: Host is not this gateway")
		return
	}
	if s.cfg.Tokens == nil && r.Header.Get("Origin") != "" {
		// without tokens, a page in a browser could post to a local
		// gateway and have the gateway's API key added
		s.h.Refuse(w, r, http.StatusForbidden, "permission_error", "browser_origin", "request refused: it comes from a web page (Origin header), and this gateway has no tokens")
		return
	}
	tok, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	switch r.URL.Path {
	case "/metrics", "/stats":
		if !tok.Role.mayWatch() {
			s.h.RefuseAs(w, r, http.StatusForbidden, "permission_error", "role",
				fmt.Sprintf("token %q has role %s; reading metrics needs viewer or admin", tok.Name, tok.Role), tok.Name)
			return
		}
		if r.URL.Path == "/stats" {
			writeJSON(w, http.StatusOK, s.Stats())
			return
		}
		s.metricsHandler.ServeHTTP(w, r)
		return
	}
	if !tok.Role.mayCall() {
		s.h.RefuseAs(w, r, http.StatusForbidden, "permission_error", "role",
			fmt.Sprintf("token %q has role %s; calling the API needs user or admin", tok.Name, tok.Role), tok.Name)
		return
	}
	var now time.Time
	if s.clock != nil {
		now = s.clock()
	}
	ok, wait, err := s.lim.take(r.Context(), tok.Name, now)
	if err != nil {
		s.cfg.Log.Error("rate limit check failed", "token", tok.Name, "error", err.Error())
		w.Header().Set("Retry-After", "1")
		s.h.RefuseAs(w, r, http.StatusServiceUnavailable, "api_error", "limit_store",
			"the gateway cannot check its rate limits, nothing was sent; retry shortly", tok.Name)
		return
	}
	if !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.h.RefuseAs(w, r, http.StatusTooManyRequests, "rate_limit_error", "rate_limited",
			fmt.Sprintf("rate limit for token %q reached; retry after %d s", tok.Name, secs), tok.Name)
		return
	}
	s.stripCredentials(r)
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	s.active.Add(1)
	defer s.active.Add(-1)
	// a token's batches are its own, not those of an earlier token of
	// the same name
	s.h.ForwardFor(w, r, r.URL.Path, tok.Name, cmp.Or(tok.Hash, tok.Name))
}

// authenticate finds the caller's token; it answers the request itself
// when there is none.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Token, bool) {
	if s.cfg.Tokens == nil {
		return Token{Name: "local", Role: RoleAdmin}, true
	}
	secret := presented(r)
	if secret == "" {
		s.h.Refuse(w, r, http.StatusUnauthorized, "authentication_error", "no_token",
			"a gateway token is required: send it in x-claude-secure-token, or as the API key or bearer token")
		return Token{}, false
	}
	tok, ok, err := s.cfg.Tokens.Check(secret)
	if err != nil {
		s.cfg.Log.Error("token check failed", "error", err.Error())
		if errors.Is(err, ErrUnavailable) {
			w.Header().Set("Retry-After", "1")
		}
		s.h.Refuse(w, r, http.StatusServiceUnavailable, "api_error", "token_store", "the gateway cannot read its tokens, nothing was sent; retry shortly")
		return Token{}, false
	}
	if !ok {
		s.h.Refuse(w, r, http.StatusUnauthorized, "authentication_error", "bad_token", "the gateway token is not valid (wrong or revoked)")
		return Token{}, false
	}
	return tok, true
}

// presented returns the gateway token a request carries, or "".
func presented(r *http.Request) string {
	if v := strings.TrimSpace(r.Header.Get(TokenHeader)); v != "" {
		return v
	}
	if v := strings.TrimSpace(r.Header.Get("X-Api-Key")); strings.HasPrefix(v, TokenPrefix) {
		return v
	}
	if v, ok := bearer(r); ok && strings.HasPrefix(v, TokenPrefix) {
		return v
	}
	return ""
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// stripCredentials removes the gateway token from a request on its way
// upstream, and adds the gateway's API key for a client without its own.
func (s *Server) stripCredentials(r *http.Request) {
	r.Header.Del(TokenHeader)
	if strings.HasPrefix(strings.TrimSpace(r.Header.Get("X-Api-Key")), TokenPrefix) {
		r.Header.Del("X-Api-Key")
	}
	if v, ok := bearer(r); ok && strings.HasPrefix(v, TokenPrefix) {
		r.Header.Del("Authorization")
	}
	if s.cfg.UpstreamAPIKey != "" && r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
		r.Header.Set("X-Api-Key", s.cfg.UpstreamAPIKey)
	}
}

func (s *Server) readyz(w http.ResponseWriter) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// IsSelf reports whether upstream points at the gateway's own listener (a
// shell whose ANTHROPIC_BASE_URL was set for the gateway's clients).
func IsSelf(upstream *url.URL, addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || upstream.Port() != strconv.Itoa(ta.Port) {
		return false
	}
	h := upstream.Hostname()
	if loopbackHost(h) {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && (ta.IP.IsUnspecified() || ip.Equal(ta.IP)) {
		return true
	}
	return false
}

// ListenPolicy checks a listen address against how the gateway is set up:
// off loopback, tokens are required, and TLS unless insecure is given.
func ListenPolicy(addr string, auth, tls, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: %v", addr, err)
	}
	if loopbackHost(host) {
		return nil
	}
	if !auth {
		return fmt.Errorf("refusing to listen on %s without tokens: authentication can be turned off on loopback addresses only", addr)
	}
	if !tls && !insecure {
		return fmt.Errorf("refusing to listen on %s without TLS: tokens and prompts would cross the network in clear text", addr)
	}
	return nil
}

// Run serves on ln until ctx ends (TLS when certFile is set), then stops
// accepting, lets requests in flight (streams included) finish for up to
// grace, and closes what is left.
func (s *Server) Run(ctx context.Context, ln net.Listener, certFile, keyFile string, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.cfg.Log.Info("shutting down", "in_flight_grace_s", grace.Seconds())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	// the listener stays open while the calls in flight finish: /readyz
	// says 503 and new calls are refused with 503, so a load balancer
	// and the clients' retries move on to another replica
	for s.active.Load() > 0 && sctx.Err() == nil {
		select {
		case <-sctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		s.cfg.Log.Warn("requests still running at the end of the grace period were cut off")
		srv.Close()
	}
	<-errc
	return nil
}
