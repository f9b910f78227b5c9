package gateway

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
)

// The alert rules and the Grafana dashboard in deploy/ name only metrics
// and labels the gateway exports.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	m := newMetrics()
	m.observe(proxy.Record{ID: "x", Caller: "t", Path: "/v1/messages", Status: 200, UpstreamStatus: 200,
		Refusal: "rate_limited", Duration: time.Millisecond, Masked: mask.Stats{"k": 1}, Unmasked: mask.Stats{"k": 1}})
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]bool{} // metric name → its labels
	for _, f := range families {
		ls := map[string]bool{"job": true, "instance": true, "le": true}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				ls[l.GetName()] = true
			}
		}
		labels[f.GetName()] = ls
		if strings.HasSuffix(f.GetName(), "_seconds") {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				labels[f.GetName()+suf] = ls
			}
		}
	}
	use := regexp.MustCompile(`((?:claude_secure|process|go)_[a-z_]+)(\{[^}]*\})?`)
	label := regexp.MustCompile(`([a-z_]+)\s*(?:=~|!=|=)`)
	by := regexp.MustCompile(`by \(([^)]*)\)`)
	for _, file := range []string{"../deploy/prometheus/alerts.yml", "../deploy/grafana/claude-secure.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, u := range use.FindAllStringSubmatch(string(b), -1) {
			ls, ok := labels[u[1]]
			if !ok {
				t.Errorf("%s: %s is not a metric the gateway exports", file, u[1])
				continue
			}
			found++
			for _, l := range label.FindAllStringSubmatch(u[2], -1) {
				if !ls[l[1]] {
					t.Errorf("%s: %s has no label %q", file, u[1], l[1])
				}
			}
		}
		if found < 5 {
			t.Errorf("%s: only %d metric uses found", file, found)
		}
		for _, g := range by.FindAllStringSubmatch(string(b), -1) {
			for _, l := range strings.Split(g[1], ",") {
				l = strings.TrimSpace(l)
				known := false
				for _, ls := range labels {
					known = known || ls[l]
				}
				if !known {
					t.Errorf("%s: grouping by unknown label %q", file, l)
				}
			}
		}
	}
}
