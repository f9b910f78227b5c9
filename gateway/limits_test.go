package gateway

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitPerToken(t *testing.T) {
	// one request every 5 s: the second at once is over the limit however
	// slow the machine is
	g := newTestGateway(t, func(c *Config) { c.Limits = Limits{PerSecond: 0.2} })
	alice := g.token(t, "alice", RoleUser)
	bob := g.token(t, "bob", RoleUser)
	body := messagesBody(false)
	if resp, b := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: alice}, body); resp.StatusCode != 200 {
		t.Fatalf("first request: status %d: %s", resp.StatusCode, b)
	}
	resp, b := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: alice}, body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second request at once: status %d, want 429", resp.StatusCode)
	}
	if typ := errorType(t, b); typ != "rate_limit_error" {
		t.Fatalf("error type %q", typ)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
		t.Fatalf("Retry-After %q, want 1 to 5 seconds", resp.Header.Get("Retry-After"))
	}
	if resp, _ := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: bob}, body); resp.StatusCode != 200 {
		t.Fatalf("another token was limited too: %d", resp.StatusCode)
	}
	if n := g.api.Hits.Load(); n != 2 {
		t.Fatalf("upstream hits %d, want 2", n)
	}
}

// The per-second bucket allows a burst as large as the rate, then one
// request per 1/rate.
func TestPerSecondBurst(t *testing.T) {
	l := newLimiter(Limits{PerSecond: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait < 300*time.Millisecond || wait > 340*time.Millisecond {
		t.Fatalf("fourth request at once: allowed=%v wait=%v, want a refusal with about 333ms", ok, wait)
	}
	if ok, _ := l.allow("a", now.Add(340*time.Millisecond)); !ok {
		t.Fatal("a request after 1/rate was refused")
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another caller shares the bucket")
	}
}

func TestHourlyLimit(t *testing.T) {
	l := newLimiter(Limits{PerSecond: 100, PerHour: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait < 15*time.Minute {
		t.Fatalf("fourth request in the hour: allowed=%v wait=%v", ok, wait)
	}
	// a refused request takes nothing: the per-second bucket is intact
	if ok, _ := l.allow("a", now.Add(20*time.Minute)); !ok {
		t.Fatal("a request was refused after the hourly bucket refilled one")
	}
}
