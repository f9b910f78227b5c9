package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
)

// An upstream that answers with a redirect is never passed on: a client
// following a 307 or 308 would send its own request, unmasked, to the new
// address. Go's client follows redirects by itself, so it is the client
// here; the address redirected to receives nothing.
func TestRedirectsAreNotPassedOn(t *testing.T) {
	elsewhere := newFakeAPI(t)
	for _, code := range []int{301, 302, 303, 307, 308} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			http.Redirect(w, r, elsewhere.URL+"/v1/messages", code)
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "redirect") {
			t.Errorf("upstream %d: client got %d, want 502 naming the redirect", code, resp.StatusCode)
		}
	}
	if n := elsewhere.Hits.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached the address it named", n)
	}
}

func TestErrorStatusesPassThrough(t *testing.T) {
	for _, status := range []int{429, 529, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				text := maskedText(t, body)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(status)
				fmt.Fprintf(w, `{"type":"error","error":{"type":"overloaded_error","message":%q}}`, "about "+text)
			})
			p, _ := startProxy(t, up.URL)
			resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != status || resp.Header.Get("Retry-After") != "7" {
				t.Errorf("status %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if !bytes.Contains(body, []byte("about "+clientText)) || !bytes.Contains(body, []byte("overloaded_error")) {
				t.Error("error body not unmasked or wording changed")
			}
		})
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	e, _ := mask.New([]byte("s"), mask.NewMemoryMappings(), nil)
	p, err := New(Options{Upstream: &url.URL{Scheme: "http", Host: addr}, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Shutdown(context.Background())
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hi"))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	assertErrorShape(t, resp.Body)
}

// Through the session proxy too, an answer the upstream cut off reaches
// the client cut off, not as a whole answer.
func TestProxyPassesOnAnAnswerCutOff(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte(strings.Repeat("x", 80)))
		w.(http.Flusher).Flush()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	t.Cleanup(up.Close)
	p, _ := startProxy(t, up.URL)
	resp, err := http.Get(p.BaseURL() + "/v1/models")
	if err != nil {
		return // cut off before its headers: an error, as it must be
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading an answer the upstream cut off: %v, want io.ErrUnexpectedEOF", err)
	}
}
