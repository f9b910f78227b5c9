package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/claude-secure/claude-secure/mask"
)

// hopHeaders are connection-level headers that are not forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// endpointBody names the request schema of the endpoints whose bodies are
// masked; everything else with a body is refused.
func (p *Handler) endpointBody(method, path string) (mask.Body, bool) {
	if method == http.MethodPost {
		switch path {
		case "/v1/messages", "/v1/messages/count_tokens":
			return mask.BodyMessages, true
		case "/v1/messages/batches":
			return mask.BodyBatch, true
		}
	}
	if slices.Contains(p.opts.AllowPaths, path) {
		return mask.BodyAny, true
	}
	return 0, false
}

// maskRequest masks the body of a request before it leaves, or returns the
// response that refuses it. Nothing is forwarded on any failure.
func (p *Handler) maskRequest(r *http.Request) (*http.Request, *http.Response) {
	info := infoOf(r)
	for _, h := range hopHeaders {
		r.Header.Del(h)
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	kind, masked := p.endpointBody(r.Method, info.path)
	if !hasBody {
		if id, ok := batchResultsID(r.Method, info.path); ok {
			info.restore = p.batches.load(p.opts, p.opts.Engine, batchKey(info.caller, id))
		}
		return r, nil
	}
	if !masked {
		info.refusal = "endpoint"
		return r, errorResponse(r, http.StatusForbidden, "permission_error",
			fmt.Sprintf("refusing to forward a request body to %s %s: only the Messages API is masked (see allow_paths)", r.Method, info.path))
	}
	raw, err := readBody(r, p.opts.MaxBody, info)
	r.Body.Close()
	if err != nil {
		info.refusal = "bad_body"
		return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error", "failed to read the request body")
	}
	if int64(len(raw)) > p.opts.MaxBody {
		info.refusal = "too_large"
		return r, errorResponse(r, http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("request body larger than %d MiB", p.opts.MaxBody>>20))
	}
	body, err := decodeBody(raw, r.Header.Get("Content-Encoding"), p.opts.MaxBody)
	if err != nil {
		info.refusal = "encoding"
		return r, errorResponse(r, http.StatusUnsupportedMediaType, "invalid_request_error", err.Error())
	}
	info.bytesIn = int64(len(body))
	// values other processes learned since the last request are masked too
	if err := p.opts.Engine.Refresh(); err != nil {
		p.stats.addError()
		info.refusal = "mask_failed"
		return r, errorResponse(r, http.StatusInternalServerError, "api_error", "could not read the store, nothing was sent: "+err.Error())
	}
	out, restore, err := p.opts.Engine.AppendMaskRequest(info.buffer(len(body)+len(body)/16), body, kind, info.masked)
	if err != nil {
		p.stats.addError()
		info.refusal = "mask_failed"
		switch {
		case errors.Is(err, mask.ErrInvalidJSON):
			info.refusal = "bad_body"
			return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error", "request body is not valid JSON; nothing was sent")
		case errors.Is(err, mask.ErrDuplicateKey):
			info.refusal = "bad_body"
			return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error", "request body has a key twice in one object; nothing was sent")
		}
		return r, errorResponse(r, http.StatusInternalServerError, "api_error", "could not mask the request, nothing was sent: "+err.Error())
	}
	info.restore = restore
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Del("Content-Encoding")
	r.Header.Del("Content-Length")
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	return r, nil
}

// bufPool recycles request body buffers: a Claude Code request is often
// megabytes, sent again on every turn.
var bufPool sync.Pool

// buffer returns an empty buffer of at least n bytes that is recycled when
// the request is done.
func (info *reqInfo) buffer(n int) []byte {
	var b []byte
	if v, ok := bufPool.Get().(*[]byte); ok && cap(*v) >= n {
		b = (*v)[:0]
	} else {
		if ok {
			bufPool.Put(v)
		}
		b = make([]byte, 0, n)
	}
	info.bufs = append(info.bufs, b)
	return b
}

func (info *reqInfo) release() {
	for _, b := range info.bufs {
		b := b[:0]
		bufPool.Put(&b)
	}
	info.bufs = nil
}

// readBody reads a request body of at most limit bytes (one more tells
// that it was larger) into a recycled buffer.
func readBody(r *http.Request, limit int64, info *reqInfo) ([]byte, error) {
	n := int64(64 << 10)
	if r.ContentLength > 0 {
		n = min(r.ContentLength, limit) + 1
	}
	b := info.buffer(int(n))
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return b, nil
			}
			b = append(b, 0)[:len(b)]
			info.bufs = append(info.bufs, b)
		}
		k, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if int64(len(b)) > limit {
			return b, nil
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// decodeBody undoes a Content-Encoding we can read; others are refused.
func decodeBody(raw []byte, enc string, limit int64) ([]byte, error) {
	var rd io.Reader
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, errors.New("request body is not valid gzip")
		}
		rd = zr
	case "deflate":
		rd = flate.NewReader(bytes.NewReader(raw))
	default:
		return nil, fmt.Errorf("request Content-Encoding %q cannot be decoded for masking; send it uncompressed or gzip", enc)
	}
	out, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, errors.New("request body could not be decompressed")
	}
	if int64(len(out)) > limit {
		return nil, errors.New("decompressed request body is too large")
	}
	return out, nil
}

// errorResponse builds a response in the Anthropic error shape, so SDKs
// and Claude Code report it like any API error.
func errorResponse(r *http.Request, status int, typ, msg string) *http.Response {
	body, _ := json.Marshal(map[string]any{
		"type":  "error",
		"error": map[string]string{"type": typ, "message": "claude-secure: " + msg},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Claude-Secure-Error", "1")
	return &http.Response{
		StatusCode:    status,
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// Refuse answers a request that is not forwarded, in the Anthropic error
// shape; reason is a short name for the audit line and the Record.
func (p *Handler) Refuse(w http.ResponseWriter, r *http.Request, status int, typ, reason, msg string) {
	p.RefuseAs(w, r, status, typ, reason, msg, "")
}

// RefuseAs is Refuse for a known caller.
func (p *Handler) RefuseAs(w http.ResponseWriter, r *http.Request, status int, typ, reason, msg, caller string) {
	resp := errorResponse(r, status, typ, msg)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	io.Copy(w, resp.Body)
	p.stats.addRefused()
	attrs := []any{"method", r.Method, "status", status, "reason", reason}
	if caller != "" {
		attrs = append(attrs, "token", caller)
	}
	p.opts.Audit.Info("refused", attrs...)
	if p.opts.Observe != nil {
		p.opts.Observe(Record{Caller: caller, Method: r.Method, Path: r.URL.Path, Status: status, Refusal: reason})
	}
}
