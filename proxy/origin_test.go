package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
)

// A page in a browser can post across origins without asking first, as
// text/plain or a form; such requests, and any that carries an Origin
// header, are refused by a session proxy.
func TestBrowserRequestsAreRefused(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	for _, c := range []struct{ name, ctype, origin string }{
		{"text/plain", "text/plain;charset=UTF-8", ""},
		{"form", "application/x-www-form-urlencoded", ""},
		{"no content type", "", ""},
		{"origin", "application/json", "http://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody("hello")))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want a refusal", c.name, resp.StatusCode)
		}
	}
	if n := up.Hits.Load(); n != 0 {
		t.Errorf("%d browser-shaped requests reached the upstream", n)
	}
}

func TestRefusesOtherClients(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	base := "http://" + p.Addr()
	for name, req := range map[string]func() *http.Request{
		"no secret": func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"wrong secret": func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/0123456789abcdef0123456789abcdef/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"foreign host": func() *http.Request {
			r, _ := http.NewRequest("POST", p.BaseURL()+"/v1/messages", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r.Host = "evil.example:80"
			return r
		},
		"absolute URL": func() *http.Request {
			r, _ := http.NewRequest("GET", up.URL+"/v1/models", nil)
			return r
		},
	} {
		t.Run(name, func(t *testing.T) {
			client := http.DefaultClient
			if name == "absolute URL" {
				pu, _ := url.Parse(base)
				client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
			}
			resp, err := client.Do(req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			assertErrorShape(t, resp.Body)
		})
	}
	if up.Hits.Load() != 0 {
		t.Errorf("%d refused requests reached the upstream", up.Hits.Load())
	}
}

func TestListensOnLoopbackOnly(t *testing.T) {
	e, _ := mask.New([]byte("s"), mask.NewMemoryMappings(), nil)
	u, _ := url.Parse("https://api.anthropic.com")
	if _, err := New(Options{Upstream: u, Engine: e, Addr: "0.0.0.0:0"}); err == nil {
		t.Error("listening on all interfaces was allowed")
	}
	p, err := New(Options{Upstream: u, Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || len(strings.TrimPrefix(p.BaseURL(), "http://"+p.Addr()+"/")) < 32 {
		t.Errorf("base URL %q: want loopback and a 128-bit secret", strings.Split(p.BaseURL(), "/")[2])
	}
}
