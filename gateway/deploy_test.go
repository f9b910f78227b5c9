package gateway

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
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

// teamFile is a file of the team deployment in deploy/team.
func teamFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "team", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives are a Redis or Sentinel file's lines, each split into its
// words, comments and blank lines left out.
func directives(conf string) [][]string {
	var out [][]string
	for _, l := range strings.Split(conf, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out = append(out, f)
		}
	}
	return out
}

// directive is the arguments of the first directive named by words.
func directive(d [][]string, words ...string) []string {
	for _, f := range d {
		if len(f) >= len(words) && slices.Equal(f[:len(words)], words) {
			return f[len(words):]
		}
	}
	return nil
}

// The team deployment's files agree: nginx balances the gateway replicas
// Prometheus scrapes, on the port serve listens on; the store URL names
// the sentinels' port, the primary's name and the passwords the Redis
// files set.
func TestTeamDeployFilesAgree(t *testing.T) {
	redisConf := directives(teamFile(t, "redis.conf"))
	sentinelConf := directives(teamFile(t, "sentinel.conf"))

	var balanced []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+(\S+:\d+)`).FindAllStringSubmatch(teamFile(t, "nginx.conf"), -1) {
		balanced = append(balanced, m[1])
	}
	prom := teamFile(t, "prometheus.yml")
	var scraped []string
	if m := regexp.MustCompile(`targets:\s*\[([^\]]*)\]`).FindStringSubmatch(prom); m != nil {
		for _, s := range strings.Split(m[1], ",") {
			scraped = append(scraped, strings.Trim(strings.TrimSpace(s), `"`))
		}
	}
	if len(balanced) < 2 || !slices.Equal(balanced, scraped) {
		t.Errorf("nginx balances %v, Prometheus scrapes %v", balanced, scraped)
	}
	// alerts.yml's rules name the job
	if !strings.Contains(prom, "job_name: claude-secure\n") || !strings.Contains(prom, "claude-secure-alerts.yml") {
		t.Error("prometheus.yml: the job is not claude-secure, or the alert rules are not loaded")
	}
	listen := regexp.MustCompile(`--listen \S+:(\d+)`).FindStringSubmatch(teamFile(t, "claude-secure.service"))
	for _, a := range balanced {
		if listen == nil || !strings.HasSuffix(a, ":"+listen[1]) {
			t.Errorf("nginx sends to %s, and serve listens on port %v", a, listen)
		}
	}

	env := map[string]string{}
	for _, l := range strings.Split(teamFile(t, "gateway.env"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = strings.Trim(v, "'")
		}
	}
	if env["CLAUDE_SECURE_KEY"] == "" {
		t.Error("gateway.env sets no CLAUDE_SECURE_KEY")
	}
	raw := env["CLAUDE_SECURE_STORE"]
	c, err := store.NewRedisClient(raw)
	if err != nil {
		t.Fatalf("the store URL: %v", err)
	}
	c.Close()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "rediss-sentinel" {
		t.Fatalf("the store URL is not a rediss-sentinel:// URL: %v", err)
	}
	password, _ := u.User.Password()
	monitor := directive(sentinelConf, "sentinel", "monitor")
	for _, c := range []struct{ what, got, want string }{
		{"the primary's name", u.Query().Get("master"), strings.Join(monitor[:1], "")},
		{"the sentinels' password", u.Query().Get("sentinel_password"), strings.Join(directive(sentinelConf, "requirepass"), "")},
		{"the password sentinels show each other", strings.Join(directive(sentinelConf, "sentinel", "sentinel-pass"), ""), strings.Join(directive(sentinelConf, "requirepass"), "")},
		{"the Redis password", password, strings.Join(directive(redisConf, "requirepass"), "")},
		{"the replica's password", strings.Join(directive(redisConf, "masterauth"), ""), password},
		{"the sentinels' Redis password", strings.Join(directive(sentinelConf, "sentinel", "auth-pass", u.Query().Get("master")), ""), password},
		{"the primary's port", strings.Join(monitor[2:3], ""), strings.Join(directive(redisConf, "tls-port"), "")},
		{"the primary's address", strings.Join(monitor[1:2], ""), strings.Join(directive(redisConf, "bind"), "")},
	} {
		if c.got == "" || c.got != c.want {
			t.Errorf("%s: %q in one file, %q in another", c.what, c.got, c.want)
		}
	}
	for _, h := range strings.Split(u.Host, ",") {
		if !strings.HasSuffix(h, ":"+strings.Join(directive(sentinelConf, "tls-port"), "")) {
			t.Errorf("the store URL names a sentinel at %s, and sentinels listen on port %v", h, directive(sentinelConf, "tls-port"))
		}
	}
	// the replica's line, commented out on the primary
	if !strings.Contains(teamFile(t, "redis.conf"), "# replicaof "+monitor[1]+" "+monitor[2]+"\n") {
		t.Error("redis.conf: replicaof does not name the primary the sentinels monitor")
	}
	for _, want := range [][]string{{"port", "0"}, {"tls-replication", "yes"}} {
		if !slices.Equal(directive(redisConf, want[0]), want[1:]) || !slices.Equal(directive(sentinelConf, want[0]), want[1:]) {
			t.Errorf("redis.conf and sentinel.conf: want %s", strings.Join(want, " "))
		}
	}
}

// The team deployment's redis.conf and sentinel.conf start Debian's
// redis-server and redis-sentinel (7.0), with the addresses, TLS files
// and passwords left out, and set what its README says.
func TestTeamDeployRedisConfigsLoad(t *testing.T) {
	local := func(d [][]string) []string {
		var out []string
		for _, f := range d {
			switch {
			case slices.Contains([]string{"bind", "port", "dir", "requirepass", "masterauth"}, f[0]),
				strings.HasPrefix(f[0], "tls-"),
				len(f) > 1 && f[0] == "sentinel" && f[1] == "sentinel-pass":
				continue
			}
			out = append(out, strings.Join(f, " "))
		}
		return out
	}
	config := func(addr string, args ...string) map[string]string {
		t.Helper()
		kv, err := redistest.DoAll(addr, args...)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	r := redistest.Start(t, local(directives(teamFile(t, "redis.conf")))...)
	got := config(r.Addr(), "CONFIG", "GET", "*")
	for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "always",
		"min-replicas-to-write": "1", "maxmemory-policy": "noeviction"} {
		if got[k] != want {
			t.Errorf("redis.conf: %s is %q, want %q", k, got[k], want)
		}
	}
	s := redistest.StartSentinelProcess(t, local(directives(teamFile(t, "sentinel.conf")))...)
	m := config(s.Addr(), "SENTINEL", "MASTER", "claude-secure")
	if m["quorum"] != "2" || m["down-after-milliseconds"] != "5000" {
		t.Errorf("sentinel.conf: quorum %s, down after %s ms", m["quorum"], m["down-after-milliseconds"])
	}
}
