// Command loadtest puts `claude-secure serve` under load: N concurrent
// streaming clients, each with its own token and its own identifiers, for
// a while, against a fake Messages API on loopback; then the same clients
// against the fake API directly, for the baseline. It checks every answer
// (status, complete stream, originals restored) and reports requests,
// errors, latency percentiles, the latency the gateway adds and the
// gateway process's memory.
//
// With -store redis the gateway keeps its mappings in a Redis it starts
// (append-only file fsynced at every write, as a team would run it); with
// -replicas N, N gateway processes share that store and the clients are
// spread over them. -json writes the results for scripts to compare.
//
// Run it with scripts/load.sh, or scripts/load-store.sh for the file store
// against Redis and one replica against three.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask/store"
)

func main() {
	bin := flag.String("bin", "", "claude-secure binary")
	clients := flag.Int("clients", 200, "concurrent streaming clients")
	dur := flag.Duration("duration", time.Minute, "how long the clients run through the gateway")
	base := flag.Duration("baseline", 20*time.Second, "how long the clients run against the fake API directly")
	pace := flag.Duration("pace", 2*time.Millisecond, "fake API: pause between streamed events")
	deltas := flag.Int("deltas", 30, "fake API: extra text deltas per answer")
	storeURL := flag.String("store", "", `the gateways' store: "" the file store, "redis" a redis-server started for the run, or a redis:// URL`)
	replicas := flag.Int("replicas", 1, "gateway processes (more than one needs a Redis store)")
	jsonOut := flag.String("json", "", "write the results to this file as JSON")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -bin is required")
		os.Exit(2)
	}
	if *replicas < 1 || *replicas > 1 && *storeURL == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -replicas above 1 needs -store")
		os.Exit(2)
	}
	ct := &cmdT{}
	err := run(ct, config{bin: *bin, clients: *clients, dur: *dur, baseDur: *base, pace: *pace, deltas: *deltas,
		store: *storeURL, replicas: *replicas, jsonOut: *jsonOut})
	ct.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type config struct {
	bin                string
	clients            int
	dur, baseDur, pace time.Duration
	deltas             int
	store              string
	replicas           int
	jsonOut            string
}

type result struct {
	requests, errors int64
	ttfb, total      []time.Duration
	// each client's first request (new identifiers: the gateway records
	// their pseudonyms in the store) is kept apart from the steady state
	firstTTFB, firstTotal []time.Duration
	firstErr              string
	elapsed               time.Duration
}

func run(ct *cmdT, cfg config) error {
	api := fakeapi.New(false)
	defer api.Close()
	api.SetPace(cfg.pace)
	api.Deltas = cfg.deltas
	clients := cfg.clients

	work, err := os.MkdirTemp("", "claude-secure-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	toks := gateway.OpenTokens(filepath.Join(work, "tokens.json"))
	tokens := make([]string, clients)
	for i := range tokens {
		if tokens[i], err = toks.Create(fmt.Sprintf("client-%03d", i), gateway.RoleUser); err != nil {
			return err
		}
	}
	storeURL, redisPid := cfg.store, 0
	if storeURL == "redis" {
		srv := redistest.Start(ct, "appendonly yes", "appendfsync always")
		storeURL = srv.URL()
		if redisPid, err = serverPid(storeURL); err != nil {
			return err
		}
	}
	var key [32]byte
	rand.Read(key[:])
	var gws []*exec.Cmd
	var addrs []string
	for i := range cfg.replicas {
		// each replica its own state directory, with the same tokens
		state := filepath.Join(work, fmt.Sprintf("replica%d", i))
		if err := os.MkdirAll(state, 0o700); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(work, "tokens.json"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(state, "tokens.json"), b, 0o600); err != nil {
			return err
		}
		logPath := filepath.Join(state, "serve.log")
		args := []string{"serve", "--listen", "127.0.0.1:0", "--upstream", api.URL,
			"--rate", "1000", "--rate-hourly", "10000000", "--log-file", logPath}
		if storeURL != "" {
			args = append(args, "--store", storeURL)
		}
		cmd := exec.Command(cfg.bin, args...)
		cmd.Env = append(os.Environ(), "CLAUDE_SECURE_HOME="+state,
			"CLAUDE_SECURE_KEY="+base64.StdEncoding.EncodeToString(key[:]),
			"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent", "ANTHROPIC_BASE_URL=", "CLAUDE_SECURE_STORE=")
		if err := cmd.Start(); err != nil {
			return err
		}
		defer cmd.Process.Kill()
		// one at a time: the first creates the store, the others open it
		addr, err := waitListening(logPath)
		if err != nil {
			return err
		}
		gws = append(gws, cmd)
		addrs = append(addrs, "http://"+addr)
	}

	store := "file store"
	if storeURL != "" {
		store = "Redis store"
	}
	fmt.Printf("%d clients; fake API streams %d+ events per answer, %v apart; %d gateway(s), %s\n",
		clients, cfg.deltas+20, cfg.pace, cfg.replicas, store)
	direct := &result{}
	if cfg.baseDur > 0 {
		fmt.Printf("baseline: %v directly against the fake API\n", cfg.baseDur)
		direct = load([]string{api.URL}, nil, clients, cfg.baseDur)
	}
	fmt.Printf("gateway: %v through claude-secure serve\n", cfg.dur)
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			for _, g := range gws {
				peak.Store(max(peak.Load(), rss(g.Process.Pid)))
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	rssStart := rss(gws[0].Process.Pid)
	cpuStart := make([]time.Duration, len(gws))
	for i, g := range gws {
		cpuStart[i] = cpuTime(g.Process.Pid)
	}
	redisStart := cpuTime(redisPid)
	via := load(addrs, tokens, clients, cfg.dur)
	var cpu time.Duration
	for i, g := range gws {
		cpu += cpuTime(g.Process.Pid) - cpuStart[i]
	}
	redisCPU := cpuTime(redisPid) - redisStart
	close(stop)
	sampler.Wait()
	var hwm int64
	for _, g := range gws {
		hwm = max(hwm, statusKB(g.Process.Pid, "VmHWM"))
	}

	runs := []struct {
		name string
		r    *result
	}{{"through serve", via}}
	if cfg.baseDur > 0 {
		runs = append([]struct {
			name string
			r    *result
		}{{"direct", direct}}, runs...)
	}
	fmt.Println()
	fmt.Println("latencies: every request but each client's first; first requests apart")
	fmt.Println("| run | requests | req/s | errors | TTFB p50 | TTFB p99 | total p50 | total p99 | first requests' TTFB p50 / p99 |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range runs {
		fmt.Printf("| %s | %d | %.0f | %d | %s | %s | %s | %s | %s / %s |\n", r.name, r.r.requests,
			float64(r.r.requests)/r.r.elapsed.Seconds(), r.r.errors,
			ms(pct(r.r.ttfb, 50)), ms(pct(r.r.ttfb, 99)), ms(pct(r.r.total, 50)), ms(pct(r.r.total, 99)),
			ms(pct(r.r.firstTTFB, 50)), ms(pct(r.r.firstTTFB, 99)))
	}
	if cfg.baseDur > 0 {
		fmt.Printf("\nadded by the gateway: TTFB p50 %s, p99 %s; total p50 %s, p99 %s\n",
			ms(pct(via.ttfb, 50)-pct(direct.ttfb, 50)), ms(pct(via.ttfb, 99)-pct(direct.ttfb, 99)),
			ms(pct(via.total, 50)-pct(direct.total, 50)), ms(pct(via.total, 99)-pct(direct.total, 99)))
	}
	fmt.Printf("gateway memory: RSS %.1f MiB before the load, peak %.1f MiB sampled, VmHWM %.1f MiB (the largest replica)\n",
		float64(rssStart)/1024, float64(peak.Load())/1024, float64(hwm)/1024)
	events := float64(via.requests) * float64(cfg.deltas+20)
	fmt.Printf("gateway CPU (all replicas): %.1f s over the run = %.2f ms per request, %.1f µs per streamed event (%.0f%% of one core)\n",
		cpu.Seconds(), float64(cpu.Microseconds())/1000/float64(via.requests), float64(cpu.Microseconds())/events,
		100*cpu.Seconds()/via.elapsed.Seconds())
	if redisPid != 0 {
		fmt.Printf("redis-server CPU: %.1f s = %.0f µs per request (%.0f%% of one core)\n", redisCPU.Seconds(),
			float64(redisCPU.Microseconds())/float64(via.requests), 100*redisCPU.Seconds()/via.elapsed.Seconds())
	}
	if cfg.jsonOut != "" {
		out := map[string]any{
			"store": cfg.store, "replicas": cfg.replicas, "clients": clients, "pace_ms": float64(cfg.pace.Microseconds()) / 1000,
			"requests": via.requests, "errors": via.errors, "req_per_s": float64(via.requests) / via.elapsed.Seconds(),
			"ttfb_p50_ms": msf(pct(via.ttfb, 50)), "ttfb_p99_ms": msf(pct(via.ttfb, 99)),
			"total_p50_ms": msf(pct(via.total, 50)), "total_p99_ms": msf(pct(via.total, 99)),
			"first_ttfb_p50_ms": msf(pct(via.firstTTFB, 50)), "first_ttfb_p99_ms": msf(pct(via.firstTTFB, 99)),
			"first_total_p99_ms":         msf(pct(via.firstTotal, 99)),
			"gateway_cpu_ms_per_request": float64(cpu.Microseconds()) / 1000 / float64(via.requests),
			"redis_cpu_us_per_request":   float64(redisCPU.Microseconds()) / float64(via.requests),
			"vmhwm_mib":                  float64(hwm) / 1024,
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for _, r := range runs {
		if r.r.errors > 0 {
			return fmt.Errorf("%d errors in the run %s; first: %s", r.r.errors, r.name, r.r.firstErr)
		}
	}
	return nil
}

// serverPid asks a Redis for its process ID.
func serverPid(url string) (int, error) {
	c, err := store.NewRedisClient(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("redis-server did not say its process ID")
}

// cmdT lets the command start a Redis with the tests' helper.
type cmdT struct{ cleanups []func() }

func (*cmdT) Helper() {}
func (c *cmdT) Fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", a...)
	c.cleanup()
	os.Exit(1)
}
func (c *cmdT) Skipf(format string, a ...any) { c.Fatalf(format, a...) }
func (c *cmdT) Cleanup(f func())              { c.cleanups = append(c.cleanups, f) }
func (c *cmdT) TempDir() string {
	d, err := os.MkdirTemp("", "claude-secure-load-redis-")
	if err != nil {
		c.Fatalf("%v", err)
	}
	c.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (c *cmdT) cleanup() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
	c.cleanups = nil
}

// load runs the clients against the bases (client c against bases[c %
// len(bases)]) for d and checks every answer.
func load(bases []string, tokens []string, clients int, d time.Duration) *result {
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res := &result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		inst := fmt.Sprintf("i-0f3a9c2b7d1e4%04x", c)
		acct := fmt.Sprintf("%012d", 210987650000+c)
		body, _ := json.Marshal(map[string]any{"model": "claude-fake", "max_tokens": 100, "stream": true,
			"messages": []any{map[string]any{"role": "user", "content": "Why is instance " + inst + " in account " + acct + " failing its health checks?"}}})
		want := fakeapi.Answer(inst, acct)
		tok := ""
		if tokens != nil {
			tok = tokens[c]
		}
		wg.Go(func() {
			for first := true; ctx.Err() == nil; first = false {
				ttfb, total, err := one(hc, bases[c%len(bases)], tok, body, want)
				if ctx.Err() != nil && err != nil {
					return // cut off by the end of the run, not a failure
				}
				mu.Lock()
				res.requests++
				if err != nil {
					res.errors++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				} else if first {
					res.firstTTFB = append(res.firstTTFB, ttfb)
					res.firstTotal = append(res.firstTotal, total)
				} else {
					res.ttfb = append(res.ttfb, ttfb)
					res.total = append(res.total, total)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	tr.CloseIdleConnections()
	return res
}

func one(hc *http.Client, base, tok string, body []byte, want string) (time.Duration, time.Duration, error) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	if tok != "" {
		req.Header.Set("x-api-key", tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		return 0, 0, fmt.Errorf("status %d, no body: %v", resp.StatusCode, err)
	}
	ttfb := time.Since(start)
	all, err := io.ReadAll(br)
	if err != nil {
		return 0, 0, err
	}
	total := time.Since(start)
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if !bytes.Contains(all, []byte("event: message_stop")) {
		return 0, 0, fmt.Errorf("stream ended before message_stop")
	}
	text, _, err := fakeapi.Streamed(all)
	if err != nil {
		return 0, 0, err
	}
	if !strings.HasPrefix(text, want) {
		return 0, 0, fmt.Errorf("answer not restored")
	}
	return ttfb, total, nil
}

func waitListening(logPath string) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		for _, line := range bytes.Split(b, []byte("\n")) {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
				return l.Addr, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("serve did not start listening")
}

func rss(pid int) int64 { return statusKB(pid, "VmRSS") }

// statusKB reads a kB field of /proc/PID/status (0 where there is none).
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is the user+system CPU time of a process so far (Linux).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the fields after the command name, which is in parentheses
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", msf(d)) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
