package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The nesting check passes only for the live session proxy that holds the
// secret in the URL, and sends nothing that reveals the secret: an
// impostor on the port learns nothing it could answer with.
func TestVerifySession(t *testing.T) {
	p, _ := startProxy(t, newFakeAPI(t).URL)
	if err := VerifySession(context.Background(), p.BaseURL()); err != nil {
		t.Fatalf("the live session was not verified: %v", err)
	}
	other := p.BaseURL()[:len(p.BaseURL())-32] + strings.Repeat("0", 32)
	if VerifySession(context.Background(), other) == nil {
		t.Error("a URL with another secret was verified")
	}
	var mu sync.Mutex
	var asked []string
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.String())
		mu.Unlock()
		io.WriteString(w, `{"proof":"00"}`)
	}))
	defer impostor.Close()
	secret := strings.Repeat("ab", 16)
	if VerifySession(context.Background(), impostor.URL+"/"+secret) == nil {
		t.Error("an impostor was verified")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || strings.Contains(asked[0], secret) {
		t.Errorf("the check asked %d times, secret sent: %v", len(asked), len(asked) > 0 && strings.Contains(asked[0], secret))
	}
	for _, bad := range []string{"", "http://example.com/" + secret, "https://127.0.0.1:1/" + secret, "http://127.0.0.1:1/outer"} {
		if VerifySession(context.Background(), bad) == nil {
			t.Errorf("%q was verified", bad)
		}
	}
}
