package claudesecure

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/claude-secure/claude-secure/proxy"
)

// Transport masks each request, sends it with its base transport and
// restores the answer. It is safe for concurrent use.
type Transport struct {
	base  http.RoundTripper
	set   settings
	close func() error

	mu       sync.Mutex
	handlers map[string]*proxy.Handler // by scheme://host
}

// NewTransport returns a Transport that masks with the engine given by
// [WithEngine] and sends through base; a nil base is a transport of our
// own: TLS verified, no proxy from the environment, HTTP/2, pooled.
func NewTransport(base http.RoundTripper, opts ...Option) (*Transport, error) {
	t, err := newTransport(base, opts)
	if err != nil {
		return nil, err
	}
	if t.set.engine == nil {
		return nil, errors.New("claudesecure: NewTransport needs WithEngine (or use Open)")
	}
	return t, nil
}

func newTransport(base http.RoundTripper, opts []Option) (*Transport, error) {
	t := &Transport{base: base, handlers: map[string]*proxy.Handler{}}
	for _, o := range opts {
		if o.apply == nil {
			continue // the zero Option
		}
		if err := o.apply(&t.set); err != nil {
			return nil, err
		}
	}
	if t.base == nil {
		t.base = proxy.NewTransport()
	}
	return t, nil
}

// Close closes the base transport's idle connections and the store Open
// opened (for a Transport from NewTransport, the engine is the caller's).
func (t *Transport) Close() error {
	t.CloseIdleConnections()
	if t.close == nil {
		return nil
	}
	return t.close()
}

// CloseIdleConnections closes the base transport's idle connections, as
// http.Client.CloseIdleConnections asks.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// handler returns the pipeline for an upstream: one per scheme and host,
// each with its own batches and counters, all on the one engine.
func (t *Transport) handler(u *url.URL) (*proxy.Handler, error) {
	up := &url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host)}
	key := up.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.handlers[key]; h != nil {
		return h, nil
	}
	h, err := proxy.NewHandler(proxy.Options{
		Upstream:   up,
		Engine:     t.set.engine,
		Transport:  t.base,
		Provider:   t.set.provider,
		Audit:      t.set.audit,
		AllowPaths: t.set.allowPaths,
		Batches:    t.set.batches,
	})
	if err != nil {
		return nil, fmt.Errorf("claudesecure: %w", err)
	}
	t.handlers[key] = h
	return h, nil
}

// RoundTrip masks req, sends it to its URL's scheme and host and returns
// the answer as soon as its headers are known; the body is restored as it
// is read, event by event for a stream. A request that is not sent is
// answered in the Anthropic error shape (see the package documentation).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		closeBody(req)
		return nil, errors.New("claudesecure: the request needs an http or https URL with a host")
	}
	if !t.set.mayGo(req.URL) {
		closeBody(req)
		return nil, errors.New("claudesecure: requests signed with the AWS credentials go only to the region's Bedrock runtime endpoint over https (or WithBedrockEndpoint's); nothing was sent to " + req.URL.Scheme + "://" + req.URL.Host)
	}
	h, err := t.handler(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// the handler takes a request as a server would have received it: a
	// path, not an absolute URL; the host is the upstream's
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(ctx)
	in.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	in.RequestURI = in.URL.RequestURI()
	in.Host = req.URL.Host
	// a client's body of unknown length has ContentLength 0 (net/http
	// sends it chunked); a server's 0 means no body: one byte is read to
	// tell them apart, as net/http does
	body := req.Body
	if in.Body != nil && in.Body != http.NoBody && in.ContentLength == 0 {
		var one [1]byte
		n, rerr := io.ReadFull(in.Body, one[:])
		switch {
		case n == 1:
			in.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(one[:]), in.Body), in.Body}
			in.ContentLength = -1
		case rerr == io.EOF:
			in.Body = http.NoBody
		default:
			cancel()
			closeBody(req)
			return nil, errors.New("claudesecure: the request's body could not be read; nothing was sent")
		}
	}

	w := newPipeWriter(req, cancel)
	// once the request's context ends, the answer is not read any more:
	// the reader gets the context's error and the handler stops at its
	// next write, as with net/http
	stop := context.AfterFunc(req.Context(), func() { w.cancelled(req.Context().Err()) })
	go func() {
		defer stop()
		defer cancel()
		defer func() {
			// the caller may reuse req once the answer is read: the body
			// taken before is the one closed
			if body != nil {
				body.Close()
			}
		}()
		defer func() {
			switch v := recover(); {
			case v == http.ErrAbortHandler:
				// the answer broke off: the request's context ended, or
				// the upstream's answer did
				w.fail(cmp.Or(req.Context().Err(), io.ErrUnexpectedEOF))
			case v != nil:
				// as a server would drop the connection; the value is not
				// repeated (it could hold what the request carried)
				w.fail(errors.New("claudesecure: internal error while masking; the answer was cut off"))
			}
		}()
		h.ForwardFor(w, in, req.URL.Path, "", "")
		w.finish()
	}()
	select {
	case res := <-w.ready:
		return res.resp, res.err
	case <-req.Context().Done():
		// the answer, if one comes, is not read: the handler's writes fail
		// and it stops
		w.abandon(req.Context().Err())
		return nil, req.Context().Err()
	}
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}
