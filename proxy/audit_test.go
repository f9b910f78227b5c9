package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/syncbuf"
)

func TestAuditLogHasCountsNeverValues(t *testing.T) {
	up := newFakeAPI(t)
	var log syncbuf.Buffer
	p, _ := startProxy(t, up.URL, func(o *Options) { o.Audit = slog.New(slog.NewJSONHandler(&log, nil)) })
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.Shutdown(context.Background())
	line := strings.TrimSpace(log.String())
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("audit line is not JSON: %v", err)
	}
	for _, k := range []string{"time", "request_id", "method", "path", "status", "duration_ms", "bytes_in", "bytes_out", "masked", "unmasked"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("audit line lacks %q", k)
		}
	}
	if rec["path"] != "/v1/messages" || rec["status"] != float64(200) {
		t.Errorf("audit path/status wrong: %v %v", rec["path"], rec["status"])
	}
	if m, _ := rec["masked"].(map[string]any); m["ec2-instance"] != float64(1) || m["ipv4"] != float64(1) {
		t.Errorf("masked counts: %v", rec["masked"])
	}
	for _, o := range originals {
		if strings.Contains(line, o) {
			t.Errorf("an original (%d bytes) is in the audit log", len(o))
		}
	}
	if strings.Contains(line, strings.Split(p.BaseURL(), "/")[3]) {
		t.Error("the session secret is in the audit log")
	}
}
