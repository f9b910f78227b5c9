package claudesecure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// pipeWriter is the http.ResponseWriter the handler answers into: the
// headers become the *http.Response that RoundTrip returns, and the body
// is written into a pipe that the response's Body reads, so a stream
// reaches the caller event by event. Only the handler's goroutine writes.
type pipeWriter struct {
	req    *http.Request
	header http.Header
	pr     *io.PipeReader
	pw     *io.PipeWriter
	body   *pipeBody
	wrote  bool
	ready  chan result // the response once its headers are written, or an error
}

type result struct {
	resp *http.Response
	err  error
}

func newPipeWriter(req *http.Request, cancel context.CancelFunc) *pipeWriter {
	pr, pw := io.Pipe()
	return &pipeWriter{
		req: req, header: http.Header{}, pr: pr, pw: pw,
		body:  &pipeBody{pr: pr, cancel: cancel},
		ready: make(chan result, 1),
	}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if w.wrote || code < 200 {
		// informational answers (100 Continue) are not passed on
		return
	}
	w.wrote = true
	h := w.header.Clone()
	n := int64(-1)
	if v, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && v >= 0 {
		n = v
	}
	w.ready <- result{resp: &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          w.body,
		ContentLength: n,
		Request:       w.req,
	}}
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.pw.Write(b)
}

// Flush does nothing: a write reaches the reader as it is made.
func (w *pipeWriter) Flush() {}

// finish ends the body; a handler that wrote nothing answered 200 with
// an empty body, as a server would send it.
func (w *pipeWriter) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.pw.Close()
}

// fail ends the answer with err: RoundTrip returns it if no headers were
// written, else the body's reader gets it.
func (w *pipeWriter) fail(err error) {
	if !w.wrote {
		w.wrote = true
		w.ready <- result{err: err}
	}
	w.pw.CloseWithError(err)
}

// abandon stops the handler's writes when nobody will read them.
func (w *pipeWriter) abandon(err error) {
	w.pr.CloseWithError(err)
}

// cancelled ends the answer with err (the request's context ended): the
// handler's next write fails, and the reader gets err.
func (w *pipeWriter) cancelled(err error) {
	w.pw.CloseWithError(err)
}

// pipeBody is the response's Body: closing it stops the handler's writes
// and the request upstream.
type pipeBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *pipeBody) Close() error {
	b.pr.Close()
	b.cancel()
	return nil
}
