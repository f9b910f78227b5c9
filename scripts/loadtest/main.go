// Command loadtest puts `claude-secure serve` under load: N concurrent
// streaming clients, each with its own token and its own identifiers, for
// a while, against a fake Messages API on loopback; then the same clients
// against the fake API directly, for the baseline. It checks every answer
// (status, complete stream, originals restored) and reports requests,
// errors, latency percentiles, the latency the gateway adds and the
// gateway process's memory.
//
// Run it with scripts/load.sh.
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
)

func main() {
	bin := flag.String("bin", "", "claude-secure binary")
	clients := flag.Int("clients", 200, "concurrent streaming clients")
	dur := flag.Duration("duration", time.Minute, "how long the clients run through the gateway")
	base := flag.Duration("baseline", 20*time.Second, "how long the clients run against the fake API directly")
	pace := flag.Duration("pace", 2*time.Millisecond, "fake API: pause between streamed events")
	deltas := flag.Int("deltas", 30, "fake API: extra text deltas per answer")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *clients, *dur, *base, *pace, *deltas); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type result struct {
	requests, errors int64
	ttfb, total      []time.Duration
	// each client's first request (new identifiers: the gateway records
	// their pseudonyms in the store) is kept apart from the steady state
	firstTTFB []time.Duration
	firstErr  string
	elapsed   time.Duration
}

func run(bin string, clients int, dur, baseDur, pace time.Duration, deltas int) error {
	api := fakeapi.New(false)
	defer api.Close()
	api.SetPace(pace)
	api.Deltas = deltas

	state, err := os.MkdirTemp("", "claude-secure-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	toks := gateway.OpenTokens(filepath.Join(state, "tokens.json"))
	tokens := make([]string, clients)
	for i := range tokens {
		if tokens[i], err = toks.Create(fmt.Sprintf("client-%03d", i), gateway.RoleUser); err != nil {
			return err
		}
	}
	var key [32]byte
	rand.Read(key[:])
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--upstream", api.URL,
		"--rate", "1000", "--rate-hourly", "10000000", "--log-file", filepath.Join(state, "serve.log"))
	cmd.Env = append(os.Environ(), "CLAUDE_SECURE_HOME="+state,
		"CLAUDE_SECURE_KEY="+base64.StdEncoding.EncodeToString(key[:]),
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent", "ANTHROPIC_BASE_URL=")
	logPath := filepath.Join(state, "serve.log")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	addr, err := waitListening(logPath)
	if err != nil {
		return err
	}

	fmt.Printf("%d clients; fake API streams %d+ events per answer, %v apart\n", clients, deltas+20, pace)
	fmt.Printf("baseline: %v directly against the fake API\n", baseDur)
	direct := load(api.URL, nil, clients, baseDur)
	fmt.Printf("gateway: %v through claude-secure serve (pid %d)\n", dur, cmd.Process.Pid)
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			peak.Store(max(peak.Load(), rss(cmd.Process.Pid)))
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	rssStart := rss(cmd.Process.Pid)
	cpuStart := cpuTime(cmd.Process.Pid)
	via := load("http://"+addr, tokens, clients, dur)
	cpu := cpuTime(cmd.Process.Pid) - cpuStart
	close(stop)
	sampler.Wait()
	hwm := statusKB(cmd.Process.Pid, "VmHWM")

	fmt.Println()
	fmt.Println("latencies: every request but each client's first; first requests apart")
	fmt.Println("| run | requests | req/s | errors | TTFB p50 | TTFB p99 | total p50 | total p99 | first requests' TTFB p50 / p99 |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range []struct {
		name string
		r    *result
	}{{"direct", direct}, {"through serve", via}} {
		fmt.Printf("| %s | %d | %.0f | %d | %s | %s | %s | %s | %s / %s |\n", r.name, r.r.requests,
			float64(r.r.requests)/r.r.elapsed.Seconds(), r.r.errors,
			ms(pct(r.r.ttfb, 50)), ms(pct(r.r.ttfb, 99)), ms(pct(r.r.total, 50)), ms(pct(r.r.total, 99)),
			ms(pct(r.r.firstTTFB, 50)), ms(pct(r.r.firstTTFB, 99)))
	}
	fmt.Printf("\nadded by the gateway: TTFB p50 %s, p99 %s; total p50 %s, p99 %s\n",
		ms(pct(via.ttfb, 50)-pct(direct.ttfb, 50)), ms(pct(via.ttfb, 99)-pct(direct.ttfb, 99)),
		ms(pct(via.total, 50)-pct(direct.total, 50)), ms(pct(via.total, 99)-pct(direct.total, 99)))
	fmt.Printf("gateway memory: RSS %.1f MiB before the load, peak %.1f MiB sampled, VmHWM %.1f MiB\n",
		float64(rssStart)/1024, float64(peak.Load())/1024, float64(hwm)/1024)
	events := float64(via.requests) * float64(deltas+20)
	fmt.Printf("gateway CPU: %.1f s over the run = %.2f ms per request, %.1f µs per streamed event (%.0f%% of one core)\n",
		cpu.Seconds(), float64(cpu.Microseconds())/1000/float64(via.requests), float64(cpu.Microseconds())/events,
		100*cpu.Seconds()/via.elapsed.Seconds())
	for _, r := range []*result{direct, via} {
		if r.errors > 0 {
			return fmt.Errorf("%d errors; first: %s", r.errors, r.firstErr)
		}
	}
	return nil
}

// load runs the clients against base for d and checks every answer.
func load(base string, tokens []string, clients int, d time.Duration) *result {
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
				ttfb, total, err := one(hc, base, tok, body, want)
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

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
