package proxy

import (
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/claude-secure/claude-secure/mask"
)

// Stats counts what a session did; the run command shows them at exit.
type Stats struct {
	mu       sync.Mutex
	requests int
	errors   int
	refused  int
	masked   mask.Stats
	unmasked mask.Stats
}

// Snapshot is a copy of Stats.
type Snapshot struct {
	Requests int        `json:"requests"`
	Errors   int        `json:"errors"`  // requests that could not be masked or forwarded
	Refused  int        `json:"refused"` // requests refused before forwarding (secret, Host, token, endpoint)
	Masked   mask.Stats `json:"masked"`
	Unmasked mask.Stats `json:"unmasked"`
}

func newStats() *Stats { return &Stats{masked: mask.Stats{}, unmasked: mask.Stats{}} }

func (s *Stats) addError()   { s.mu.Lock(); s.errors++; s.mu.Unlock() }
func (s *Stats) addRefused() { s.mu.Lock(); s.refused++; s.mu.Unlock() }

func (s *Stats) addRequest(info *reqInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.masked.Add(info.masked)
	s.unmasked.Add(info.unmasked)
}

func (s *Stats) snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{Requests: s.requests, Errors: s.errors, Refused: s.refused,
		Masked: maps.Clone(s.masked), Unmasked: maps.Clone(s.unmasked)}
}

// auditWriter records the status and size of a response, and writes the
// audit line when goproxy is done with it.
type auditWriter struct {
	http.ResponseWriter
	p      *Handler
	r      *http.Request
	info   *reqInfo
	status int
	bytes  int64
}

func (a *auditWriter) WriteHeader(code int) {
	a.status = code
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

// Flush lets goproxy flush event streams through the wrapper.
func (a *auditWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (a *auditWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// done writes the audit line: names and counts, never a value.
func (a *auditWriter) done() {
	info := a.info
	a.p.stats.addRequest(info)
	rec := Record{
		ID: info.id, Caller: info.caller, Method: a.r.Method, Path: info.path,
		Status: a.status, UpstreamStatus: info.upstream, Refusal: info.refusal,
		Duration: time.Since(info.start), BytesIn: info.bytesIn, BytesOut: a.bytes,
		Masked: info.masked, Unmasked: info.unmasked,
	}
	attrs := []any{
		"request_id", rec.ID,
		"method", rec.Method,
		"path", rec.Path,
		"status", rec.Status,
		"duration_ms", float64(rec.Duration.Microseconds()) / 1000,
		"bytes_in", rec.BytesIn,
		"bytes_out", rec.BytesOut,
		"masked", rec.Masked,
		"unmasked", rec.Unmasked,
	}
	if rec.Caller != "" {
		attrs = append(attrs, "token", rec.Caller)
	}
	if rec.UpstreamStatus != 0 {
		attrs = append(attrs, "upstream_status", rec.UpstreamStatus)
	}
	if rec.Refusal != "" {
		attrs = append(attrs, "refusal", rec.Refusal)
	}
	a.p.opts.Audit.Info("request", attrs...)
	if a.p.opts.Observe != nil {
		a.p.opts.Observe(rec)
	}
}
