package proxy

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/elazarl/goproxy"
)

// maxPlainBody bounds a non-streamed response that is unmasked as a whole.
const maxPlainBody = 64 << 20

// cutReader marks the request when the upstream's answer breaks off.
type cutReader struct {
	io.ReadCloser
	info *reqInfo
}

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		c.info.cut = true
	}
	return n, err
}

// unmaskResponse restores the originals in a response on its way back:
// event streams event by event, JSON bodies as a whole (thinking blocks
// untouched), anything else as text. Status and headers stay.
func (p *Handler) unmaskResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil {
		return nil
	}
	if resp.Header.Get("X-Claude-Secure-Error") != "" {
		return resp // our own refusal: nothing to unmask
	}
	info, ok := infoOf(ctx.Req)
	if !ok {
		// nothing says what the answer may restore
		if resp.Body != nil {
			resp.Body.Close()
		}
		return p.refusal(ctx.Req, http.StatusInternalServerError, "api_error", "no_record", noRecordAnswer, "")
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.Body == nil || resp.Body == http.NoBody || ctx.Req.Method == http.MethodHead {
		return resp
	}
	resp.Body = &cutReader{ReadCloser: resp.Body, info: info}
	if enc := contentEncoding(resp.Header); enc != "" {
		// the transport asks for gzip and undoes it itself; an encoding
		// the client asked for, or one nobody asked for, is undone here,
		// or the answer cannot be restored
		rd, err := decodedReader(resp.Body, enc)
		if err != nil {
			resp.Body.Close()
			return errorResponse(ctx.Req, http.StatusBadGateway, "api_error", fmt.Sprintf("the upstream answered with Content-Encoding %q, which cannot be read to restore the answer", enc))
		}
		resp.Body = readCloser{rd, resp.Body}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	switch ct {
	case "text/event-stream":
		resp.Body = newSSEUnmasker(resp.Body, p.opts.Engine, info)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp
	case "application/vnd.amazon.eventstream":
		// Bedrock's streamed answer: binary frames, each an event
		resp.Body = newEventStreamUnmasker(resp.Body, p.opts.Engine, info)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp
	case "application/json":
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPlainBody+1))
		resp.Body.Close()
		info.cut = false // read whole or answered 502 here
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
			p.batches.save(p.opts, batchKey(info.owner, id), r)
		}
		out, err := e.UnmaskJSON(raw, kind, r, info.unmasked)
		if errors.Is(err, mask.ErrInvalidJSON) {
			// not JSON after all: unmask as text
			out, err = e.UnmaskBytes(raw, r, info.unmasked)
		}
		if err != nil {
			return errorResponse(ctx.Req, http.StatusBadGateway, "api_error", "could not unmask the response: "+err.Error())
		}
		setBody(resp, out)
		return resp
	}
	e := p.opts.Engine
	if _, ok := batchResultsID(ctx.Req.Method, info.path); ok {
		// JSONL, a result a line: each as JSON, thinking blocks untouched
		resp.Body = readCloser{&resultsUnmasker{e: e, r: info.restoreSet(e), stats: info.unmasked, src: bufio.NewReaderSize(resp.Body, 64<<10)}, resp.Body}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp
	}
	// plain text and anything else: stream as text
	resp.Body = readCloser{e.NewUnmasker(info.restoreSet(e), info.unmasked).Reader(resp.Body), resp.Body}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp
}

// contentEncoding is the one encoding of a response body, "" for none;
// several (gzip over br, in any header line) are returned together, and
// cannot be read.
func contentEncoding(h http.Header) string {
	var encs []string
	for _, v := range h.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" && e != "identity" {
				encs = append(encs, e)
			}
		}
	}
	return strings.Join(encs, ", ")
}

// errEncoding is a Content-Encoding the proxy cannot read.
var errEncoding = errors.New("unsupported encoding")

// decodedReader undoes a body's Content-Encoding (a request's or a
// response's): gzip, or deflate, which RFC 9110 defines as zlib and some
// senders write raw.
func decodedReader(body io.Reader, enc string) (io.Reader, error) {
	br := bufio.NewReader(body)
	switch enc {
	case "gzip", "x-gzip":
		return gzip.NewReader(br)
	case "deflate":
		// a zlib stream starts with a header whose check bits make the
		// first two bytes a multiple of 31, and CM 8
		if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
			return zlib.NewReader(br)
		}
		return flate.NewReader(br), nil
	}
	return nil, errEncoding
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

// resultsUnmasker restores a batch's JSONL results a line at a time, each
// line as a JSON result (a line that is not JSON, as text).
type resultsUnmasker struct {
	e     *mask.Engine
	r     *mask.Restore
	stats mask.Stats
	src   *bufio.Reader
	line  []byte
	buf   []byte
	out   []byte // the part of buf not read yet
	err   error
}

func (u *resultsUnmasker) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.line = u.line[:0]
		for {
			chunk, err := u.src.ReadSlice('\n')
			u.line = append(u.line, chunk...)
			if len(u.line) > maxPlainBody {
				u.err = errors.New("a batch result line is too long to unmask")
				return 0, u.err
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			u.err = err
			break
		}
		if len(u.line) == 0 {
			continue
		}
		body := bytes.TrimRight(u.line, "\r\n")
		out, err := u.e.UnmaskJSON(body, mask.BodyBatchResult, u.r, u.stats)
		if errors.Is(err, mask.ErrInvalidJSON) {
			out, err = u.e.UnmaskBytes(body, u.r, u.stats)
		}
		if err != nil {
			u.err = err
			return 0, err
		}
		u.buf = append(append(u.buf[:0], out...), u.line[len(body):]...)
		u.out = u.buf
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}
