package proxy

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/elazarl/goproxy"
)

// maxPlainBody bounds a non-streamed response that is unmasked as a whole.
const maxPlainBody = 64 << 20

// unmaskResponse restores the originals in a response on its way back:
// event streams event by event, JSON bodies as a whole (thinking blocks
// untouched), anything else as text. Status and headers stay.
func (p *Handler) unmaskResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil {
		return nil
	}
	info := infoOf(ctx.Req)
	if resp.Header.Get("X-Claude-Secure-Error") != "" {
		return resp // our own refusal: nothing to unmask
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.Body == nil || resp.Body == http.NoBody || ctx.Req.Method == http.MethodHead {
		return resp
	}
	switch ct {
	case "text/event-stream":
		resp.Body = newSSEUnmasker(resp.Body, p.opts.Engine, info)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp
	case "application/json":
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPlainBody+1))
		resp.Body.Close()
		if err != nil || len(raw) > maxPlainBody {
			return errorResponse(ctx.Req, http.StatusBadGateway, "api_error", "upstream response could not be read")
		}
		kind := mask.BodyResponse
		if resp.StatusCode >= 400 {
			kind = mask.BodyAny
		}
		e := p.opts.Engine
		r := info.restoreSet(e)
		if id, ok := createdBatch(ctx.Req, resp.StatusCode, raw); ok {
			p.batches.save(p.opts, id, r)
		}
		out, err := e.UnmaskJSON(raw, kind, r, info.unmasked)
		if err != nil {
			// not JSON after all: unmask as text
			out, err = e.UnmaskBytes(raw, r, info.unmasked)
		}
		if err != nil {
			return errorResponse(ctx.Req, http.StatusBadGateway, "api_error", "could not unmask the response: "+err.Error())
		}
		setBody(resp, out)
		return resp
	}
	// JSONL batch results, plain text and anything else: stream as text
	e := p.opts.Engine
	resp.Body = readCloser{e.NewUnmasker(info.restoreSet(e), info.unmasked).Reader(resp.Body), resp.Body}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp
}

func setBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Content-Encoding")
}

// readCloser reads from one reader and closes another (the upstream body).
type readCloser struct {
	io.Reader
	io.Closer
}
