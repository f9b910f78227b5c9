package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
)

// Replicas of `claude-secure serve` on one Redis store, as a team runs
// them behind a load balancer (the tracker issue "serve replicas on a
// shared Redis store"): each replica its own process and state directory,
// all with the same store key, all forwarding to one fake API.

// replicaSet is the Redis, the fake API and the serve processes of a test.
type replicaSet struct {
	bin    string
	redis  *redistest.Server
	api    *fakeapi.Server
	homes  []string
	gws    []*gatewayProcess
	tokens []string // a gateway token for each client
}

// startReplicas starts a Redis with conf, a fake API that paces its
// events by pace, and n serve processes on them that know a token for
// each of clients clients. Each client has a token of its own, as on a
// team's gateway: a caller's requests are masked a few at a time, and
// tokens let the clients' requests reach the store at once.
func startReplicas(t *testing.T, n, clients int, pace time.Duration, conf ...string) *replicaSet {
	t.Helper()
	tmp := t.TempDir()
	rs := &replicaSet{bin: buildClaudeSecure(t, tmp), redis: redistest.Start(t, conf...), api: fakeapi.New(true)}
	t.Cleanup(rs.api.Close)
	rs.api.SetPace(pace)
	// the replicas of a shared store keep their tokens in its Redis
	rc, err := store.NewRedisClient(rs.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	toks := gateway.NewRedisTokens(rc)
	for c := range clients {
		tok, err := toks.Create(fmt.Sprintf("client-%03d", c), gateway.RoleUser)
		if err != nil {
			t.Fatal(err)
		}
		rs.tokens = append(rs.tokens, tok)
	}
	for i := range n {
		home := filepath.Join(tmp, fmt.Sprintf("replica%d", i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		rs.homes = append(rs.homes, home)
	}
	// one at a time: the first creates the store, the others open it
	for i := range n {
		rs.gws = append(rs.gws, rs.start(t, i))
	}
	return rs
}

func (rs *replicaSet) start(t *testing.T, i int) *gatewayProcess {
	t.Helper()
	return startGateway(t, rs.bin, rs.homes[i], "--store", rs.redis.URL(), "--upstream", rs.api.URL,
		"--rate", "0", "--rate-hourly", "0")
}

func (rs *replicaSet) base(i int) string { return "http://" + rs.gws[i].addr }

// storeKey is the key every claude-secure process of these tests has.
func storeKey(t *testing.T) []byte {
	t.Helper()
	for _, kv := range serveEnv("") {
		if v, ok := strings.CutPrefix(kv, "CLAUDE_SECURE_KEY="); ok {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no CLAUDE_SECURE_KEY in serveEnv")
	return nil
}

// ask is one request of one client: an instance and an account to ask
// about, and a marker (never masked) that names the client and the
// request, so each body the fake API receives can be traced to its ask.
type ask struct {
	client, seq int
	inst, acct  string
}

var markerRe = regexp.MustCompile(`\(client (\d+), request (\d+)\)`)

func (a ask) body() []byte {
	b, _ := json.Marshal(map[string]any{"model": "claude-fake", "max_tokens": 100, "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": fmt.Sprintf(
			"Why is instance %s in account %s failing its health checks? (client %d, request %d)", a.inst, a.acct, a.client, a.seq)}}})
	return b
}

// instanceID and accountID are originals no store has seen: n picks one,
// salt keeps the tests' originals apart.
func instanceID(salt, n int) string { return fmt.Sprintf("i-0%04x%012x", salt, 0x5eed0000+n) }
func accountID(salt, n int) string  { return fmt.Sprintf("%04d%08d", 3100+salt, n) }

// outcome is what a client got for an ask.
type outcome struct {
	ask
	replica     int
	status      int
	retryAfter  string
	body        []byte
	err         error
	start, done time.Time
}

func replicaClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 400}}
}

// send makes one streaming request with token tok and reads the whole
// answer.
func send(hc *http.Client, base, tok string, a ask) outcome {
	o := outcome{ask: a, start: time.Now()}
	defer func() { o.done = time.Now() }()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(a.body()))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", tok)
	resp, err := hc.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	o.status, o.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	o.body, o.err = io.ReadAll(resp.Body)
	o.done = time.Now()
	return o
}

// restored says what is wrong with a streamed answer (nothing: ""): it is
// whole, and its text and tool input carry the ask's originals.
func (o outcome) restored() string {
	switch {
	case o.err != nil:
		return "transport error: " + redactErr(o.err, o.inst, o.acct)
	case o.status != http.StatusOK:
		return fmt.Sprintf("status %d", o.status)
	case !bytes.Contains(o.body, []byte("event: message_stop")):
		return "the stream ended before message_stop"
	}
	text, tool, err := fakeapi.Streamed(o.body)
	switch {
	case err != nil:
		return err.Error()
	case text != fakeapi.Answer(o.inst, o.acct):
		return "the text is not the answer with the originals restored"
	case tool != fakeapi.ToolInput(o.inst, o.acct):
		return "the tool input is not the answer's with the originals restored"
	}
	return ""
}

// refusedCleanly says what is wrong with an answer that should be the
// 503 of a store that cannot be reached (nothing: "").
func (o outcome) refusedCleanly() string {
	if o.err != nil {
		return "transport error: " + redactErr(o.err, o.inst, o.acct)
	}
	var e struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	switch {
	case o.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("status %d, want 503", o.status)
	case o.retryAfter == "":
		return "a 503 without Retry-After"
	case json.Unmarshal(o.body, &e) != nil || e.Type != "error" || e.Error.Type != "api_error":
		return "a 503 whose body is not an Anthropic error"
	case !strings.HasPrefix(e.Error.Message, "claude-secure: ") || !strings.Contains(e.Error.Message, "nothing was sent"):
		return "a 503 that does not say claude-secure sent nothing"
	case bytes.Contains(o.body, []byte(o.inst)) || bytes.Contains(o.body, []byte(o.acct)):
		return "a 503 that quotes an original"
	}
	return ""
}

func redactErr(err error, vals ...string) string {
	s := err.Error()
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, fmt.Sprintf("(a value, %d bytes)", len(v)))
	}
	return s
}

var (
	instanceRe = regexp.MustCompile(`i-[0-9a-f]{17}`)
	accountRe  = regexp.MustCompile(`\b[0-9]{12}\b`)
)

// upstream is what the fake API received, traced to the asks.
type upstream struct {
	// pseudonyms[original] is every pseudonym sent for it
	pseudonyms map[string]map[string]bool
	seen       map[[2]int]bool // markers of the asks that reached it
	bodies     int
}

// readUpstream traces every body the fake API received to its ask (found
// by lookup) and checks that no original of any ask is in any body.
func readUpstream(t *testing.T, api *fakeapi.Server, lookup func(client, seq int) (ask, bool), originals []string) upstream {
	t.Helper()
	u := upstream{pseudonyms: map[string]map[string]bool{}, seen: map[[2]int]bool{}}
	add := func(orig, p string) {
		if u.pseudonyms[orig] == nil {
			u.pseudonyms[orig] = map[string]bool{}
		}
		u.pseudonyms[orig][p] = true
	}
	for _, r := range api.Requests() {
		u.bodies++
		var req struct {
			Messages []struct{ Content string }
		}
		if err := json.Unmarshal(r.Body, &req); err != nil || len(req.Messages) != 1 {
			t.Errorf("an upstream body (%d bytes) is not one of the test's requests", len(r.Body))
			continue
		}
		text := req.Messages[0].Content
		m := markerRe.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("an upstream body lost its marker")
			continue
		}
		c, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		a, ok := lookup(c, s)
		if !ok {
			t.Errorf("client %d, request %d reached the upstream but was never asked", c, s)
			continue
		}
		if u.seen[[2]int{c, s}] {
			t.Errorf("client %d, request %d reached the upstream twice", c, s)
		}
		u.seen[[2]int{c, s}] = true
		insts, accts := instanceRe.FindAllString(text, -1), accountRe.FindAllString(text, -1)
		if len(insts) != 1 || len(accts) != 1 {
			t.Errorf("client %d, request %d: upstream got %d instance IDs and %d account IDs, want one each", c, s, len(insts), len(accts))
			continue
		}
		add(a.inst, insts[0])
		add(a.acct, accts[0])
	}
	for _, r := range api.Requests() {
		for i, o := range originals {
			if bytes.Contains(r.Body, []byte(o)) {
				t.Errorf("original %d (%d bytes) reached the upstream", i, len(o))
			}
		}
	}
	return u
}

// checkOnePseudonymEach: every original went upstream under one pseudonym,
// never its own, and no two originals share one.
func checkOnePseudonymEach(t *testing.T, u upstream, index map[string]int) map[string]string {
	t.Helper()
	one := map[string]string{}
	owner := map[string]string{}
	for orig, ps := range u.pseudonyms {
		if len(ps) != 1 {
			t.Errorf("original %d went upstream under %d pseudonyms", index[orig], len(ps))
			continue
		}
		for p := range ps {
			if p == orig {
				t.Errorf("original %d went upstream as itself", index[orig])
			}
			if o, ok := owner[p]; ok {
				t.Errorf("originals %d and %d went upstream under one pseudonym", index[o], index[orig])
			}
			owner[p] = orig
			one[orig] = p
		}
	}
	return one
}

// checkStore opens the store the replicas share and checks that it holds
// every mapping in want (original → pseudonym) unchanged, each original
// once in its log and each pseudonym once; it returns the log's length.
func checkStore(t *testing.T, url string, want map[string]string, index map[string]int) int {
	t.Helper()
	s, err := store.OpenRedis(context.Background(), url, storeKey(t))
	if err != nil {
		t.Fatalf("opening the shared store: %v", err)
	}
	defer s.Close()
	logged := map[string]string{}
	issued := map[string]bool{}
	n := 0
	err = s.Since(0, func(b []mask.Mapping, _ uint64) {
		for _, m := range b {
			n++
			if _, ok := logged[m.Original]; ok {
				t.Errorf("an original (%s) is in the log twice", m.Kind)
			}
			if issued[m.Pseudonym] {
				t.Errorf("a pseudonym (%s) is in the log twice", m.Kind)
			}
			logged[m.Original], issued[m.Pseudonym] = m.Pseudonym, true
		}
	})
	if err != nil {
		t.Fatalf("reading the shared store's log: %v", err)
	}
	for orig, p := range want {
		if logged[orig] != p {
			t.Errorf("original %d: the store's log does not hold the pseudonym sent upstream", index[orig])
		}
		got, _, ok, err := s.LookupOne(p)
		if err != nil || !ok || got != orig {
			t.Errorf("original %d: the store does not restore the pseudonym sent upstream (found %v, %v)", index[orig], ok, err)
		}
	}
	return n
}

// storeInfo runs `claude-secure store info --json` on the shared store.
func (rs *replicaSet) storeInfo(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(rs.bin, "--store", rs.redis.URL(), "store", "info", "--json")
	cmd.Env = serveEnv(filepath.Join(t.TempDir(), "info"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("store info: %v\n%s", err, stderr.String())
	}
	var info struct{ Mappings int }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("store info --json printed no JSON (%d bytes)", len(out))
	}
	return info.Mappings
}

// 200 streaming clients on three replicas at once, each asking about an
// instance and an account no store has seen, many of them shared: a
// shared original is proposed on several replicas at the same moment.
// Every original goes upstream under one pseudonym, every answer comes
// back with the originals, and a client's next requests, on the other
// replicas, use the pseudonyms the first replica issued.
func TestReplicasShareOneStore(t *testing.T) {
	const replicas, clients, rounds = 3, 200, 3
	rs := startReplicas(t, replicas, clients, 0)
	asks := map[[2]int]ask{}
	index := map[string]int{}
	var originals []string
	for c := range clients {
		for r := range rounds {
			// an instance is asked about by two clients, an account by ten,
			// each from a replica of its own in every round
			a := ask{client: c, seq: r, inst: instanceID(1, c%(clients/2)), acct: accountID(1, c%(clients/10))}
			asks[[2]int{c, r}] = a
			for _, o := range []string{a.inst, a.acct} {
				if _, ok := index[o]; !ok {
					index[o] = len(originals)
					originals = append(originals, o)
				}
			}
		}
	}
	hc := replicaClient()
	var mu sync.Mutex
	var failed []string
	for r := range rounds {
		go0 := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				<-go0
				o := send(hc, rs.base((c+r)%replicas), rs.tokens[c], asks[[2]int{c, r}])
				if msg := o.restored(); msg != "" {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("client %d, request %d on replica %d: %s", c, r, (c+r)%replicas, msg))
					mu.Unlock()
				}
			})
		}
		close(go0) // every client of the round at once
		wg.Wait()
	}
	failOn(t, failed, "%d of %d answers failed", len(failed), clients*rounds)

	u := readUpstream(t, rs.api, func(c, s int) (ask, bool) { a, ok := asks[[2]int{c, s}]; return a, ok }, originals)
	if u.bodies != clients*rounds {
		t.Errorf("the upstream got %d requests, want %d", u.bodies, clients*rounds)
	}
	want := checkOnePseudonymEach(t, u, index)
	if len(want) != len(originals) {
		t.Errorf("%d originals went upstream, want %d", len(want), len(originals))
	}
	if n := checkStore(t, rs.redis.URL(), want, index); n != len(originals) {
		t.Errorf("the store's log holds %d mappings, want %d", n, len(originals))
	}
	if n := rs.storeInfo(t); n != len(originals) {
		t.Errorf("store info counts %d mappings, want %d", n, len(originals))
	}
	for i, g := range rs.gws {
		for _, o := range append(originals, rs.tokens...) {
			if strings.Contains(g.log(), o) {
				t.Errorf("replica %d's log holds an original or a token", i)
				break
			}
		}
	}
	for c, tok := range rs.tokens {
		if rs.api.Saw(tok) {
			t.Errorf("client %d's gateway token reached the upstream", c)
		}
	}
}

// hammer runs clients against the replicas until ctx ends: client c sends
// ask(c, 0), ask(c, 1), … to replica pick(c), one after another, and gives
// each outcome to record; a client whose record returns false stops.
func hammer(ctx context.Context, rs *replicaSet, clients int, pick func(c int) int, next func(c, seq int) ask, record func(outcome) bool) {
	hc := replicaClient()
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				o := send(hc, rs.base(pick(c)), rs.tokens[c], next(c, seq))
				o.replica = pick(c)
				if !record(o) {
					return
				}
				if o.status == http.StatusServiceUnavailable {
					// Retry-After says 1 s; a shorter wait keeps the test short
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

// asksOf is the asks of a hammer run: each request a new instance, each
// client one account.
type asksOf struct {
	salt int
	mu   sync.Mutex
	all  map[[2]int]ask
}

func (a *asksOf) next(c, seq int) ask {
	x := ask{client: c, seq: seq, inst: instanceID(a.salt, c<<12|seq), acct: accountID(a.salt, c)}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.all == nil {
		a.all = map[[2]int]ask{}
	}
	a.all[[2]int{c, seq}] = x
	return x
}

func (a *asksOf) add(x ask) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all[[2]int{x.client, x.seq}] = x
}

func (a *asksOf) lookup(c, seq int) (ask, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.all[[2]int{c, seq}]
	return x, ok
}

// originals of every ask made, and each one's number (for messages).
func (a *asksOf) originals() ([]string, map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	index := map[string]int{}
	for _, x := range a.all {
		for _, o := range []string{x.inst, x.acct} {
			if _, ok := index[o]; !ok {
				index[o] = len(out)
				out = append(out, o)
			}
		}
	}
	return out, index
}

// A replica killed with SIGKILL while clients stream through all three:
// the other replicas' clients see no error, every mapping any request
// used upstream (the killed replica's too) is in the store unchanged, and
// the store opens and reads whole afterwards.
func TestReplicaKilledUnderLoad(t *testing.T) {
	const replicas, clients, victim = 3, 60, 2
	rs := startReplicas(t, replicas, clients, 2*time.Millisecond)
	asks := &asksOf{salt: 2}
	var mu sync.Mutex
	var failed []string
	var killed time.Time
	afterKill := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hammer(ctx, rs, clients, func(c int) int { return c % replicas }, asks.next, func(o outcome) bool {
			if o.replica == victim {
				// the victim's clients stop at their first failure: the kill
				return o.restored() == ""
			}
			mu.Lock()
			defer mu.Unlock()
			if msg := o.restored(); msg != "" {
				failed = append(failed, fmt.Sprintf("client %d, request %d on replica %d: %s", o.client, o.seq, o.replica, msg))
			} else if !killed.IsZero() && o.start.After(killed) {
				afterKill++
			}
			return true
		})
	}()
	// the kill lands while the victim issues and streams
	waitFor(t, 20*time.Second, "requests through every replica", func() bool {
		return rs.api.Hits.Load() >= 3*clients
	})
	if err := rs.gws[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-rs.gws[victim].exited
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	waitFor(t, 20*time.Second, "requests after the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return afterKill >= 2*clients
	})
	cancel()
	<-done
	failOn(t, failed, "%d answers failed on the replicas that were not killed", len(failed))

	originals, index := asks.originals()
	u := readUpstream(t, rs.api, asks.lookup, originals)
	want := checkOnePseudonymEach(t, u, index)
	n := checkStore(t, rs.redis.URL(), want, index)
	if n < len(want) {
		t.Errorf("the store's log holds %d mappings, fewer than the %d used upstream", n, len(want))
	}
	if got := rs.storeInfo(t); got != n {
		t.Errorf("store info counts %d mappings, the log %d", got, n)
	}
	// the victim's own state comes back with the store's mappings
	rs.gws[victim] = rs.start(t, victim)
	again := 0
	for key := range u.seen {
		if key[0]%replicas != victim || again == 20 {
			continue
		}
		again++
		a, _ := asks.lookup(key[0], key[1])
		a.seq += 1 << 20 // the same originals, a request of its own
		asks.add(a)
		if msg := send(replicaClient(), rs.base(victim), rs.tokens[a.client], a).restored(); msg != "" {
			t.Errorf("the restarted replica, client %d, request %d again: %s", key[0], key[1], msg)
		}
	}
	if again == 0 {
		t.Fatal("no request of the killed replica's clients reached the upstream")
	}
	u = readUpstream(t, rs.api, asks.lookup, originals)
	if len(checkOnePseudonymEach(t, u, index)) != len(want) {
		t.Error("the restarted replica sent originals the others had not")
	}
}

// waitFor polls cond every 10 ms until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

// readyz is the status of a replica's /readyz.
func readyz(base string) int {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Redis killed while clients stream through two replicas: a request that
// needs the store is refused with a clean 503 (an Anthropic error,
// Retry-After) and nothing of it reaches the upstream; /readyz says 503.
// Redis restarted (its append-only file fsynced at every write): the
// replicas take requests again by themselves, and the store holds every
// mapping acknowledged before the outage, in the same place in its log.
func TestRedisOutageUnderLoad(t *testing.T) {
	const replicas, clients = 2, 40
	rs := startReplicas(t, replicas, clients, time.Millisecond, "appendonly yes", "appendfsync always")
	asks := &asksOf{salt: 3}
	var mu sync.Mutex
	var failed []string
	var outcomes []outcome
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hammer(ctx, rs, clients, func(c int) int { return c % replicas }, asks.next, func(o outcome) bool {
			mu.Lock()
			defer mu.Unlock()
			outcomes = append(outcomes, o)
			msg := o.restored()
			if o.status == http.StatusServiceUnavailable {
				msg = o.refusedCleanly()
			}
			if msg != "" {
				failed = append(failed, fmt.Sprintf("client %d, request %d on replica %d: %s", o.client, o.seq, o.replica, msg))
			}
			return true
		})
	}()
	count := func(status int, after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, o := range outcomes {
			if o.status == status && o.start.After(after) {
				n++
			}
		}
		return n
	}
	waitFor(t, 20*time.Second, "requests before the outage", func() bool { return count(200, time.Time{}) >= 3*clients })

	// the log as it stood just before Redis went down
	before := logEntries(t, rs.redis.URL())
	rs.redis.Kill()
	down := time.Now()
	for i := range replicas {
		waitFor(t, 10*time.Second, fmt.Sprintf("503 from replica %d's /readyz", i), func() bool {
			return readyz(rs.base(i)) == http.StatusServiceUnavailable
		})
	}
	waitFor(t, 20*time.Second, "503s during the outage", func() bool { return count(503, down) >= 2*clients })
	up := time.Now()
	rs.redis.Restart()
	for i := range replicas {
		waitFor(t, 20*time.Second, fmt.Sprintf("200 from replica %d's /readyz", i), func() bool {
			return readyz(rs.base(i)) == http.StatusOK
		})
	}
	back := time.Now()
	waitFor(t, 20*time.Second, "answers after the outage", func() bool { return count(200, back) >= 3*clients })
	cancel()
	<-done

	failOn(t, failed, "%d answers were neither restored nor a clean 503", len(failed))
	originals, index := asks.originals()
	u := readUpstream(t, rs.api, asks.lookup, originals)
	refused := 0
	var waits []time.Duration
	for _, o := range outcomes {
		if o.status == http.StatusServiceUnavailable {
			refused++
			if u.seen[[2]int{o.client, o.seq}] {
				t.Errorf("client %d, request %d was refused with a 503 and reached the upstream", o.client, o.seq)
			}
		}
		if o.start.After(down) && o.done.Before(up) {
			if o.status != http.StatusServiceUnavailable {
				t.Errorf("client %d, request %d, sent and answered while Redis was down: status %d", o.client, o.seq, o.status)
			}
			waits = append(waits, o.done.Sub(o.start))
		}
		if o.status == http.StatusOK && !u.seen[[2]int{o.client, o.seq}] {
			t.Errorf("client %d, request %d was answered but never reached the upstream", o.client, o.seq)
		}
	}
	// a refusal comes at once, not after the Retry-After it carries
	slices.Sort(waits)
	if len(waits) == 0 {
		t.Error("no request was made and answered while Redis was down")
	} else if med := waits[len(waits)/2]; med >= time.Second {
		t.Errorf("a request made while Redis was down waited %v (median) for its 503", med.Round(time.Millisecond))
	}
	t.Logf("%d answers, %d refused with 503 while Redis was down (median wait %v)", len(outcomes), refused, waits[len(waits)/2].Round(time.Millisecond))
	want := checkOnePseudonymEach(t, u, index)
	checkStore(t, rs.redis.URL(), want, index)
	after := logEntries(t, rs.redis.URL())
	if len(after) < len(before) {
		t.Fatalf("the log held %d mappings before the outage and %d after", len(before), len(after))
	}
	for i := range before {
		if after[i] != before[i] {
			t.Fatalf("log entry %d changed across the outage", i)
		}
	}
}

// logEntries is the shared store's log, each mapping as one string.
func logEntries(t *testing.T, url string) []string {
	t.Helper()
	s, err := store.OpenRedis(context.Background(), url, storeKey(t))
	if err != nil {
		t.Fatalf("opening the shared store: %v", err)
	}
	defer s.Close()
	var out []string
	if err := s.Since(0, func(b []mask.Mapping, _ uint64) {
		for _, m := range b {
			out = append(out, m.Family+"\x00"+m.Original+"\x00"+m.Pseudonym)
		}
	}); err != nil {
		t.Fatalf("reading the shared store's log: %v", err)
	}
	return out
}

// failOn reports the first ten failures and ends the test with a count
// (format, args) when there are any.
func failOn(t *testing.T, failed []string, format string, args ...any) {
	t.Helper()
	for _, f := range failed[:min(len(failed), 10)] {
		t.Error(f)
	}
	if len(failed) > 0 {
		t.Fatalf(format, args...)
	}
}
