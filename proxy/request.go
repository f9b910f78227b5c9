package proxy

import (
	"bytes"
	"context"
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

// hopHeaders are connection-level headers that are not forwarded, and
// those a load balancer or TLS proxy in front of a gateway adds about the
// client (its internal address, the gateway's own name): they describe
// the hop to us, not the request, and would tell the upstream the
// addresses of the network behind the gateway.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Forwarded", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Via"}

// hopPrefixes name, by prefix, the headers load balancers, meshes and
// cloud front ends add about the client and the hop (X-Forwarded-For,
// Envoy's, ingress-nginx's X-Original-Forwarded-For, CloudFront's viewer
// address, API Gateway's VPC endpoint id): dropped like hopHeaders.
var hopPrefixes = []string{"X-Forwarded-", "X-Original-Forwarded-", "X-Envoy-", "Cloudfront-", "X-Amzn-"}

// dropHopHeaders removes hopHeaders and the hopPrefixes headers from h,
// but for those that start with keep (a provider's own request headers).
func dropHopHeaders(h http.Header, keep string) {
	for _, k := range hopHeaders {
		h.Del(k)
	}
	for k := range h {
		if keep != "" && strings.HasPrefix(k, keep) {
			continue
		}
		for _, p := range hopPrefixes {
			if strings.HasPrefix(k, p) {
				delete(h, k)
				break
			}
		}
	}
}

// endpointBody names the request schema of the endpoints whose bodies are
// masked; everything else with a body is refused.
func (p *Handler) endpointBody(method, path string) (mask.Body, bool) {
	if k, ok := p.provider.body(method, path); ok {
		return k, true
	}
	if slices.Contains(p.opts.AllowPaths, path) {
		return mask.BodyAny, true
	}
	return 0, false
}

// maskRequest masks the body of a request before it leaves, or returns the
// response that refuses it. Nothing is forwarded on any failure.
func (p *Handler) maskRequest(r *http.Request, info *reqInfo) (*http.Request, *http.Response) {
	keep := ""
	if p.provider.Name() == "bedrock" {
		// a guardrail, a trace, a service tier: Bedrock's own requests,
		// read for values to mask like every other header
		keep = "X-Amzn-Bedrock-"
	}
	dropHopHeaders(r.Header, keep)
	p.provider.strip(r.Header)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	kind, masked := p.endpointBody(r.Method, info.path)
	// a body that will be masked is read before the store is: the server
	// notices a client going away only once its body was read to the end,
	// and a wait for the store must end when the client goes
	var body []byte
	var bodyRefusal *http.Response
	if hasBody && masked && jsonContent(r) {
		var release func()
		body, release, bodyRefusal = p.takeBody(r, info)
		defer release()
	}
	// values other processes learned since the last request are masked
	// too; a wait for the store (another process holds it) ends when the
	// client goes away
	if err := p.opts.Engine.RefreshContext(r.Context()); err != nil {
		if isGone(r, err) {
			info.refusal = "client_gone"
			return r, errorResponse(r, 499, "api_error", "client went away")
		}
		p.stats.addError()
		if resp := storeUnavailable(r, info, err); resp != nil {
			return r, resp
		}
		info.refusal = "mask_failed"
		return r, errorResponse(r, http.StatusInternalServerError, "api_error", "could not read the store, nothing was sent: "+err.Error())
	}
	if where, err := p.exposed(r, p.provider.address(r.Method, info.path)); err != nil {
		p.stats.addError()
		info.refusal = "mask_failed"
		return r, errorResponse(r, http.StatusInternalServerError, "api_error", "could not check the request, nothing was sent: "+err.Error())
	} else if where != "" {
		info.path = withheldPath // the audit line must not carry it either
		info.refusal = "exposed"
		return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error",
			fmt.Sprintf("the request's %s holds a value that masking would replace, and it cannot be masked without changing what the request asks for; nothing was sent", where))
	}
	if !hasBody {
		// judged to have none, it can carry none
		r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
		return p.bodyless(r, info)
	}
	if !masked {
		info.refusal = "endpoint"
		return r, errorResponse(r, http.StatusForbidden, "permission_error",
			fmt.Sprintf("refusing to forward a request body to %s %s: only the Messages API is masked (see allow_paths)", r.Method, info.path))
	}
	if !jsonContent(r) {
		info.refusal = "content_type"
		return r, errorResponse(r, http.StatusUnsupportedMediaType, "invalid_request_error",
			"request body must be JSON, sent with Content-Type: application/json")
	}
	if bodyRefusal != nil {
		return r, bodyRefusal
	}
	info.bytesIn = int64(len(body))
	out, restore, err := p.opts.Engine.AppendMaskRequestContext(r.Context(), info.buffer(len(body)+len(body)/16), body, kind, info.masked)
	if err != nil && isGone(r, err) {
		// the client went away while new pseudonyms waited for the store
		info.refusal = "client_gone"
		return r, errorResponse(r, 499, "api_error", "client went away")
	}
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
		case errors.Is(err, mask.ErrTooDeep):
			info.refusal = "bad_body"
			return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error", "request body nests content blocks deeper than the API takes; nothing was sent")
		case errors.Is(err, mask.ErrStructural):
			info.refusal = "exposed"
			return r, errorResponse(r, http.StatusBadRequest, "invalid_request_error",
				"a structural field of the request body (an id, a name, the model, a batch request's custom_id) holds a value that masking would replace, and the API reads those fields as they are; nothing was sent")
		}
		if resp := storeUnavailable(r, info, err); resp != nil {
			return r, resp
		}
		return r, errorResponse(r, http.StatusInternalServerError, "api_error", "could not mask the request, nothing was sent: "+err.Error())
	}
	info.restore = restore
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Del("Content-Encoding")
	r.Header.Del("Content-Length")
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	if resp := p.authorize(r, info, out); resp != nil {
		return r, resp
	}
	return r, nil
}

// storeUnavailable refuses a request whose masking needed a store that
// could not be reached (a shared store failing over, say) with a 503 the
// client retries, or returns nil for any other error.
func storeUnavailable(r *http.Request, info *reqInfo, err error) *http.Response {
	if !errors.Is(err, mask.ErrStoreUnavailable) {
		return nil
	}
	info.refusal = "store_unavailable"
	resp := errorResponse(r, http.StatusServiceUnavailable, "api_error", "the mapping store cannot be reached, nothing was sent; retry shortly")
	resp.Header.Set("Retry-After", "1")
	return resp
}

// authorize adds the provider's credentials to a request that is ready to
// leave; a failure refuses it.
func (p *Handler) authorize(r *http.Request, info *reqInfo, body []byte) *http.Response {
	if err := p.provider.authorize(r.Context(), r, body); err != nil {
		if isGone(r, err) {
			info.refusal = "client_gone"
			return errorResponse(r, 499, "api_error", "client went away")
		}
		p.stats.addError()
		info.refusal = "auth_failed"
		return errorResponse(r, http.StatusBadGateway, "api_error", "could not authenticate the request to "+p.provider.Name()+", nothing was sent: "+err.Error())
	}
	return nil
}

// takeBody waits for one of the caller's body slots, reads the body (up
// to the path's limit) and undoes its Content-Encoding. release gives the
// slot back; a refusal says why the body cannot be masked.
func (p *Handler) takeBody(r *http.Request, info *reqInfo) (body []byte, release func(), refusal *http.Response) {
	release, err := p.bodySlot(r, info.owner)
	if err != nil {
		info.refusal = "client_gone"
		return nil, func() {}, errorResponse(r, 499, "api_error", "client went away")
	}
	limit := p.bodyLimit(r.Method, info.path)
	raw, err := readBody(r, limit, info)
	r.Body.Close()
	if err != nil {
		info.refusal = "bad_body"
		return nil, release, errorResponse(r, http.StatusBadRequest, "invalid_request_error", "failed to read the request body")
	}
	if int64(len(raw)) > limit {
		info.refusal = "too_large"
		return nil, release, errorResponse(r, http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("request body larger than %d MiB", limit>>20))
	}
	body, err = decodeBody(raw, r.Header.Get("Content-Encoding"), limit, info)
	if errors.Is(err, errTooLarge) {
		info.refusal = "too_large"
		return nil, release, errorResponse(r, http.StatusRequestEntityTooLarge, "request_too_large", err.Error())
	}
	if err != nil {
		info.refusal = "encoding"
		return nil, release, errorResponse(r, http.StatusUnsupportedMediaType, "invalid_request_error", err.Error())
	}
	return body, release, nil
}

// isGone reports whether err ended a wait because the client went away
// (its request's context is done), as opposed to a failure of the store.
func isGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// bufPool recycles request body buffers: a Claude Code request is often
// megabytes, sent again on every turn.
var bufPool sync.Pool

// buffer returns an empty buffer of at least n bytes that is recycled when
// the request is done.
func (info *reqInfo) buffer(n int) []byte {
	b := pooled(n)
	info.bufs = append(info.bufs, b)
	return b
}

// pooled returns an empty buffer of at least n bytes, from the pool if it
// has one.
func pooled(n int) []byte {
	if v, ok := bufPool.Get().(*[]byte); ok {
		if cap(*v) >= n {
			return (*v)[:0]
		}
		bufPool.Put(v)
	}
	return make([]byte, 0, n)
}

// maxPooled is the largest buffer kept for another request: a rare large
// body's memory goes back to the system instead of staying in the pool.
const maxPooled = 8 << 20

func (info *reqInfo) release() {
	for _, b := range info.bufs {
		if cap(b) > maxPooled {
			continue
		}
		b := b[:0]
		bufPool.Put(&b)
	}
	info.bufs = nil
}

// readBody reads a request body of at most limit bytes (one more tells
// that it was larger) into a recycled buffer.
func readBody(r *http.Request, limit int64, info *reqInfo) ([]byte, error) {
	hint := int64(64 << 10)
	if r.ContentLength > 0 {
		hint = r.ContentLength
	}
	return readAll(r.Body, limit, hint, info)
}

// decodeBody undoes a Content-Encoding we can read (gzip, and deflate both
// as RFC 9110 defines it, zlib, and as some clients send it, raw); others
// are refused. The decompressed size is checked as it is produced.
func decodeBody(raw []byte, enc string, limit int64, info *reqInfo) ([]byte, error) {
	enc = strings.ToLower(strings.TrimSpace(enc))
	if enc == "" || enc == "identity" {
		return raw, nil
	}
	rd, err := decodedReader(bytes.NewReader(raw), enc)
	if errors.Is(err, errEncoding) {
		return nil, fmt.Errorf("request Content-Encoding %q cannot be decoded for masking; send it uncompressed, gzip or deflate", enc)
	}
	if err != nil {
		return nil, fmt.Errorf("request body is not valid %s", enc)
	}
	out, err := readAll(rd, limit, 64<<10, info)
	if err != nil {
		return nil, errors.New("request body could not be decompressed")
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: larger than %d MiB decompressed", errTooLarge, limit>>20)
	}
	return out, nil
}

var errTooLarge = errors.New("request body too large")

// readAll reads r into a recycled buffer, up to limit bytes and one more
// (which tells that there was more), starting with room for hint. The
// buffer doubles as it fills; only the last one is kept for the pool (a
// large body would otherwise hold twice its size).
func readAll(r io.Reader, limit, hint int64, info *reqInfo) (b []byte, err error) {
	b = pooled(int(min(hint, limit) + 1))
	defer func() { info.bufs = append(info.bufs, b) }()
	for {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(max(2*int64(cap(b)), 64<<10), limit+1))
			copy(nb, b)
			b = nb
		}
		k, err := r.Read(b[len(b):min(cap(b), int(limit)+1)])
		b = b[:len(b)+k]
		if int64(len(b)) > limit || errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Request bodies are bounded by what the API itself accepts: 32 MB for a
// Messages or token-counting request, 256 MB for a batch (and MaxBody,
// if lower). A body is counted decompressed.
const (
	messagesLimit = 32 << 20
	batchLimit    = 256 << 20
)

func (p *Handler) bodyLimit(method, path string) int64 {
	limit := p.opts.MaxBody
	k, ok := p.provider.body(method, path)
	switch {
	case ok && k == mask.BodyMessages:
		limit = min(limit, messagesLimit)
	case ok && k == mask.BodyBatch:
		limit = min(limit, batchLimit)
	}
	return limit
}

// bodiesPerCaller bounds the bodies one caller has being read, decoded and
// masked at once (the rest wait their turn), so one token cannot fill the
// gateway's memory with bodies.
const bodiesPerCaller = 4

// bodySlot waits for one of the caller's body slots; release gives it
// back. It fails only if the client goes away while waiting.
func (p *Handler) bodySlot(r *http.Request, caller string) (release func(), err error) {
	p.slotsMu.Lock()
	if p.slots == nil {
		p.slots = map[string]*callerSlots{}
	}
	cs := p.slots[caller]
	if cs == nil {
		cs = &callerSlots{ch: make(chan struct{}, bodiesPerCaller)}
		p.slots[caller] = cs
	}
	cs.users++
	p.slotsMu.Unlock()
	done := func() {
		p.slotsMu.Lock()
		if cs.users--; cs.users == 0 {
			delete(p.slots, caller)
		}
		p.slotsMu.Unlock()
	}
	select {
	case cs.ch <- struct{}{}:
	case <-r.Context().Done():
		done()
		return nil, r.Context().Err()
	}
	return func() {
		<-cs.ch
		done()
	}, nil
}

// callerSlots are one caller's body slots, and how many requests use them.
type callerSlots struct {
	ch    chan struct{}
	users int
}

// withheldPath stands for a path in the audit line when the path itself
// holds a value to mask.
const withheldPath = "(withheld)"

// bodyless lets a request without a body through, or refuses it. A
// session forwards any (its child holds the API key anyway); a gateway
// forwards, by path, the models list and a message batch's own calls, the
// latter only for the caller that created the batch: another caller's
// batch is answered 404, as if it did not exist.
func (p *Handler) bodyless(r *http.Request, info *reqInfo) (*http.Request, *http.Response) {
	// a provider the proxy authenticates to (Bedrock, Vertex) gets only the
	// calls it knows, in a session too: no other call leaves with the
	// user's credentials
	if p.opts.PerCaller || p.provider.Name() != "anthropic" {
		route, id := p.provider.bodyless(r.Method, info.path)
		switch route {
		case bodylessRefused:
			info.refusal = "endpoint"
			return r, errorResponse(r, http.StatusForbidden, "permission_error",
				fmt.Sprintf("refusing to forward %s %s: the gateway forwards calls without a body to the models list (or Bedrock's inference profiles) and to a token's own message batches only", r.Method, info.path))
		case bodylessBatchOwner:
			if !p.batches.owns(p.opts, batchKey(info.owner, id)) {
				info.refusal = "not_owner"
				return r, errorResponse(r, http.StatusNotFound, "not_found_error",
					"no message batch with this id was created with this token")
			}
		}
	}
	if id, ok := batchResultsID(r.Method, info.path); ok {
		info.restore = p.batches.load(p.opts, p.opts.Engine, batchKey(info.owner, id))
	}
	if resp := p.authorize(r, info, nil); resp != nil {
		return r, resp
	}
	return r, nil
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
	writeResponse(w, p.refusal(r, status, typ, reason, msg, caller))
}

// writeResponse answers with resp, made here (a refusal).
func writeResponse(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// refusal counts a request that is not forwarded, writes its audit line
// and returns the answer, in the Anthropic error shape.
func (p *Handler) refusal(r *http.Request, status int, typ, reason, msg, caller string) *http.Response {
	p.stats.addRefused()
	attrs := []any{"method", r.Method, "status", status, "reason", reason}
	if caller != "" {
		attrs = append(attrs, "token", caller)
	}
	p.opts.Audit.Info("refused", attrs...)
	if p.opts.Observe != nil {
		p.opts.Observe(Record{Caller: caller, Method: r.Method, Path: r.URL.Path, Status: status, Refusal: reason})
	}
	return errorResponse(r, status, typ, msg)
}
