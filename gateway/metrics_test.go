package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestMetricsStatsAndHealth(t *testing.T) {
	ready := errors.New("store unavailable")
	var mu sync.Mutex
	g := newTestGateway(t, func(c *Config) {
		c.Ready = func() error { mu.Lock(); defer mu.Unlock(); return ready }
	})
	user := g.token(t, "alice", RoleUser)
	viewer := g.token(t, "grafana", RoleViewer)
	admin := g.token(t, "ops", RoleAdmin)
	resp, _ := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: user}, messagesBody(true))
	reqID := resp.Header.Get("X-Claude-Secure-Request-Id")
	if !strings.HasPrefix(reqID, "cs_") {
		t.Fatalf("no request id for the client: %q", reqID)
	}
	post(t, g.url+"/v1/messages", nil, messagesBody(false))

	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
		if tok != "" {
			req.Header.Set(TokenHeader, tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz", ""); code != 503 || !strings.Contains(body, "store unavailable") {
		t.Fatalf("readyz with a failing store: %d %s", code, body)
	}
	mu.Lock()
	ready = nil
	mu.Unlock()
	if code, _ := get("/readyz", ""); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	for _, c := range []struct {
		tok  string
		code int
	}{{"", 401}, {user, 403}, {viewer, 200}, {admin, 200}} {
		if code, _ := get("/metrics", c.tok); code != c.code {
			t.Fatalf("/metrics: %d, want %d", code, c.code)
		}
	}
	_, m := get("/metrics", viewer)
	for _, want := range []string{
		`claude_secure_requests_total{code="200",endpoint="/v1/messages",token="alice"} 1`,
		`claude_secure_rejections_total{reason="no_token",token=""} 2`, // the API call and /metrics without a token
		`claude_secure_upstream_responses_total{code="200"} 1`,
		`claude_secure_masked_total{kind="ec2-instance"} 1`,
		`claude_secure_unmasked_total{kind="ec2-instance"} 2`,
		`claude_secure_request_duration_seconds_count{endpoint="/v1/messages"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
	code, st := get("/stats", admin)
	if code != 200 || !strings.Contains(st, `"requests":1`) || !strings.Contains(st, `"masked":{"account-id":1,"ec2-instance":1}`) {
		t.Fatalf("/stats: %d %s", code, st)
	}
	// the log line names the token and counts, never a value
	var line struct {
		ID       string         `json:"request_id"`
		Token    string         `json:"token"`
		Status   int            `json:"status"`
		Masked   map[string]int `json:"masked"`
		Unmasked map[string]int `json:"unmasked"`
	}
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.ID != reqID || line.Token != "alice" || line.Status != 200 || line.Masked["ec2-instance"] != 1 || line.Unmasked["ec2-instance"] != 2 {
		t.Fatalf("request log line: %+v", line)
	}
}
