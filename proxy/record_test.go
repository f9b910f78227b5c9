package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/elazarl/goproxy"
)

// refusals returns the reasons of the "refused" lines of an audit log.
func refusals(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var rec struct{ Msg, Reason string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("audit line is not JSON: %v", err)
		}
		if rec.Msg == "refused" {
			out = append(out, rec.Reason)
		}
	}
	return out
}

// closeCounter is an upstream body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// Forward attaches each request's record; every step that reads it
// refuses a request that has none (counted, with an audit line saying
// why) rather than carrying on with a blank one: nothing goes upstream,
// and no answer is restored with an empty restore set.
func TestRequestWithoutRecordIsRefused(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	e, err := mask.New([]byte("proxy-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(api.URL)
	var log syncbuf.Buffer
	h, err := NewHandler(Options{Upstream: up, Engine: e, Audit: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	unrecorded := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, api.URL+"/v1/messages", bytes.NewReader(requestBody(clientText)))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	check := func(step string, resp *http.Response, status, refused int, reason string) {
		t.Helper()
		if resp == nil {
			t.Fatalf("%s: no answer", step)
		}
		defer resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", step, resp.StatusCode, status)
		}
		assertErrorShape(t, resp.Body)
		if got := h.Stats().Refused; got != refused {
			t.Errorf("%s: %d requests counted as refused, want %d", step, got, refused)
		}
		if rs := refusals(t, log.String()); len(rs) != refused || rs[len(rs)-1] != reason {
			t.Errorf("%s: audit refusals %q, want %d ending with %q", step, rs, refused, reason)
		}
	}

	// goproxy's request handler: an absolute URL straight from a client
	w := httptest.NewRecorder()
	h.gp.ServeHTTP(w, unrecorded())
	check("request handler", w.Result(), http.StatusForbidden, 1, "not_proxy")

	// the round trip: refused before anything is sent
	r := unrecorded()
	resp, err := h.roundTrip(r, &goproxy.ProxyCtx{Req: r, Proxy: h.gp})
	if err != nil {
		t.Fatal(err)
	}
	check("round trip", resp, http.StatusInternalServerError, 2, "no_record")

	// the response: an answer with nothing to say what it may restore
	pseudo, err := e.MaskBytes([]byte(clientText), nil)
	if err != nil {
		t.Fatal(err)
	}
	r = unrecorded()
	body := &closeCounter{Reader: strings.NewReader(`{"type":"message","content":[{"type":"text","text":` + jsonString(string(pseudo)) + `}]}`)}
	upResp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Request: r}
	check("response", h.unmaskResponse(upResp, &goproxy.ProxyCtx{Req: r, Proxy: h.gp}), http.StatusInternalServerError, 3, "no_record")
	if body.closed == 0 {
		t.Error("the upstream body of a refused answer was not closed")
	}

	if n := api.Hits.Load(); n != 0 {
		t.Errorf("%d requests without a record reached the upstream", n)
	}
	for i, o := range originals {
		if strings.Contains(log.String(), o) {
			t.Errorf("original %d is in the audit log", i+1)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
