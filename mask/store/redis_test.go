package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/redis/go-redis/v9"
)

func openRedisTest(t testing.TB, url string, key []byte) *RedisStore {
	t.Helper()
	s, err := OpenRedis(context.Background(), url, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func engineOver(t testing.TB, b Backend) *mask.Engine {
	e, err := mask.New(b.Seed(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRedisMasksAcrossProcessesAndRestores(t *testing.T) {
	srv := redistest.Start(t)
	masked, err := engineOver(t, openRedisTest(t, srv.URL(), testKey)).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(masked, []byte(sample)) {
		t.Fatal("nothing was masked")
	}
	// another replica, as another process on another host
	other := openRedisTest(t, srv.URL(), testKey)
	e := engineOver(t, other)
	back, err := e.UnmaskBytes(masked, e.RestoreAll(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != sample {
		t.Error("a second replica did not restore what the first masked")
	}
	again, _ := engineOver(t, openRedisTest(t, srv.URL(), testKey)).MaskBytes([]byte(sample), nil)
	if !bytes.Equal(again, masked) {
		t.Error("pseudonyms changed between replicas")
	}
	info, err := other.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mappings != 4 || info.PerKind["ec2-instance"] != 1 || !strings.HasPrefix(info.Path, "redis://") {
		t.Errorf("info: %d mappings, %v, at %s", info.Mappings, info.PerKind, info.Path)
	}
}

func TestRedisWrongKeyRefused(t *testing.T) {
	srv := redistest.Start(t)
	openRedisTest(t, srv.URL(), testKey)
	_, err := OpenRedis(context.Background(), srv.URL(), bytes.Repeat([]byte{8}, 32))
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
	if n, _ := redistest.Do(srv.Addr(), "DBSIZE"); n != ":1" {
		t.Errorf("a refused key wrote to Redis: DBSIZE %s", n)
	}
}

// The issuing rules are the file store's: an original keeps its pseudonym,
// a taken pseudonym or one that is an original is proposed again, and an
// original that is an issued pseudonym is never masked.
func TestRedisIssueRules(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	m := func(orig, ps string) mask.Mapping {
		return mask.Mapping{Family: "ec2-instance", Kind: "ec2-instance", Original: orig, Pseudonym: ps}
	}
	var asked []string
	retry := func(m mask.Mapping) (string, error) {
		asked = append(asked, m.Original)
		return m.Pseudonym + "x", nil
	}
	got, err := s.Issue([]mask.Mapping{m("orig-a", "ps-a"), m("orig-b", "ps-b")}, retry)
	if err != nil || got[0] != "ps-a" || got[1] != "ps-b" {
		t.Fatalf("first issue: %q %v", got, err)
	}
	cases := []struct {
		name  string
		in    mask.Mapping
		want  string
		retry bool
	}{
		{"an original keeps its pseudonym", m("orig-a", "ps-other"), "ps-a", false},
		{"a taken pseudonym is proposed again", m("orig-c", "ps-a"), "ps-ax", true},
		{"a pseudonym that is an original is proposed again", m("orig-d", "orig-b"), "orig-bx", true},
		{"an issued pseudonym is never masked", m("ps-b", "ps-q"), "", false},
		{"an original may be its own pseudonym", m("orig-e", "orig-e"), "orig-e", false},
	}
	for _, c := range cases {
		asked = nil
		got, err := s.Issue([]mask.Mapping{c.in}, retry)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got[0] != c.want || (len(asked) > 0) != c.retry {
			t.Errorf("%s: got %q (asked again: %v)", c.name, got[0], len(asked) > 0)
		}
	}
	// within one batch: a proposal that is another original of the batch
	asked = nil
	got, err = s.Issue([]mask.Mapping{m("orig-f", "orig-g"), m("orig-g", "ps-g")}, retry)
	if err != nil || got[0] != "orig-gx" || got[1] != "ps-g" {
		t.Errorf("a batch's own original as a pseudonym: %q %v", got, err)
	}
	var log []mask.Mapping
	if err := s.Since(0, func(b []mask.Mapping, _ uint64) { log = append(log, b...) }); err != nil {
		t.Fatal(err)
	}
	if len(log) != 7 || log[0].Original != "orig-a" || log[6].Original != "orig-g" {
		t.Errorf("log: %d mappings", len(log))
	}
	orig, kind, ok, err := s.LookupOne("ps-ax")
	if err != nil || !ok || orig != "orig-c" || kind != "ec2-instance" {
		t.Errorf("lookup: %v %v %v", ok, kind, err)
	}
	if _, _, ok, _ := s.LookupOne("ps-none"); ok {
		t.Error("a pseudonym never issued was found")
	}
}

// Replicas that propose mappings for the same originals at once, with
// pseudonyms that collide, end with one pseudonym per original and one
// original per pseudonym.
func TestRedisReplicasAgree(t *testing.T) {
	srv := redistest.Start(t)
	const replicas, originals = 6, 200
	stores := make([]*RedisStore, replicas)
	for i := range stores {
		stores[i] = openRedisTest(t, srv.URL(), testKey)
	}
	results := make([][]string, replicas)
	var wg sync.WaitGroup
	for r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]mask.Mapping, originals)
			for i := range batch {
				// every replica proposes its own pseudonym, and pseudonyms
				// collide across originals
				batch[i] = mask.Mapping{Family: "f", Kind: "k", Original: fmt.Sprintf("o%03d", i), Pseudonym: fmt.Sprintf("p%03d", (i+r*7)%originals)}
			}
			n := 0
			out, err := stores[r].Issue(batch, func(m mask.Mapping) (string, error) {
				n++
				return fmt.Sprintf("p-%d-%d-%s", r, n, m.Original), nil
			})
			if err != nil {
				t.Error(err)
			}
			results[r] = out
		}()
	}
	wg.Wait()
	byPseudonym := map[string]string{}
	for i := range originals {
		for r := 1; r < replicas; r++ {
			if results[r][i] != results[0][i] {
				t.Fatalf("original %d: replicas %d and 0 got different pseudonyms", i, r)
			}
		}
		if o, ok := byPseudonym[results[0][i]]; ok {
			t.Fatalf("originals %s and %d share a pseudonym", o, i)
		}
		byPseudonym[results[0][i]] = fmt.Sprint(i)
	}
	var n int
	stores[0].Since(0, func(b []mask.Mapping, _ uint64) { n += len(b) })
	if n != originals {
		t.Errorf("the log holds %d mappings, want %d", n, originals)
	}
}

// What Redis holds, reads back, and writes to its append-only file holds
// no original, no pseudonym and not the seed.
func TestRedisHoldsNothingReadable(t *testing.T) {
	srv := redistest.Start(t, "appendonly yes", "appendfsync always")
	s := openRedisTest(t, srv.URL(), testKey)
	e := engineOver(t, s)
	masked, err := e.MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBatch("msgbatch_01", []string{"i-0a1b2c3d4e5f60718"}); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	ctx := context.Background()
	var dump bytes.Buffer
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump.WriteString(k)
		v, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		dump.WriteString(v)
	}
	filepath.WalkDir(srv.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "appendonly") {
			b, _ := os.ReadFile(p)
			dump.Write(b)
		}
		return nil
	})
	if dump.Len() < 500 {
		t.Fatalf("the dump holds only %d bytes: the append-only file was not read", dump.Len())
	}
	values := append(strings.Fields(sample), strings.Fields(string(masked))...)
	values = append(values, "msgbatch_01", "i-0a1b2c3d4e5f60718")
	for i, v := range values {
		v = strings.Trim(v, ",")
		if len(v) >= 6 && bytes.Contains(dump.Bytes(), []byte(v)) {
			t.Errorf("value %d is readable in Redis", i)
		}
	}
	if bytes.Contains(dump.Bytes(), s.Seed()) {
		t.Error("the pseudonym seed is readable in Redis")
	}
	ids, found, err := s.LoadBatch("msgbatch_01")
	if err != nil || !found || len(ids) != 1 {
		t.Errorf("batch: %v %v %v", len(ids), found, err)
	}
}

func TestRedisDownIsUnavailableThenRecovers(t *testing.T) {
	old := RedisTimeout
	RedisTimeout = 500 * 1e6
	t.Cleanup(func() { RedisTimeout = old })
	srv := redistest.Start(t, "appendonly yes", "appendfsync always")
	s := openRedisTest(t, srv.URL(), testKey)
	e := engineOver(t, s)
	if _, err := e.MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	_, err := e.MaskBytes([]byte("i-0123456789abcdef0"), nil)
	if !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Fatalf("with Redis down: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Check(); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("check with Redis down: %v", err)
	}
	if strings.Contains(err.Error(), "0123456789abcdef0") {
		t.Error("the error quotes the value")
	}
	srv.Restart()
	if err := s.Check(); err != nil {
		t.Fatalf("check after Redis came back: %v", err)
	}
	if _, err := e.MaskBytes([]byte("i-0123456789abcdef0"), nil); err != nil {
		t.Fatalf("after Redis came back: %v", err)
	}
	var n int
	s.Since(0, func(b []mask.Mapping, _ uint64) { n += len(b) })
	if n != 5 {
		t.Errorf("after a restart the log holds %d mappings, want 5", n)
	}
}

func TestRedisResetDeletesOnlyTheStore(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	if _, err := engineOver(t, s).MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(srv.Addr(), "SET", "someone-else", "x"); err != nil {
		t.Fatal(err)
	}
	n, err := ResetRedis(context.Background(), srv.URL())
	if err != nil || n < 10 {
		t.Fatalf("reset deleted %d keys: %v", n, err)
	}
	if got, _ := redistest.Do(srv.Addr(), "DBSIZE"); got != ":1" {
		t.Errorf("after reset DBSIZE is %s, want only the other key", got)
	}
	// a process that had it open issues nothing into a store without
	// its meta (the next to open it would make another, with another seed)
	if _, err := s.Issue(newMappings("orig-1"), proposeAgain); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "gone from Redis") {
		t.Errorf("issuing into a store that was reset: %v", err)
	}
	if got, _ := redistest.Do(srv.Addr(), "DBSIZE"); got != ":1" {
		t.Errorf("issuing into a store that was reset wrote to Redis: DBSIZE %s", got)
	}
	// a reset store is created afresh, with a new seed
	s2 := openRedisTest(t, srv.URL(), bytes.Repeat([]byte{9}, 32))
	if bytes.Equal(s2.Seed(), s.Seed()) {
		t.Error("the seed survived a reset")
	}
}

func TestRedisURLs(t *testing.T) {
	for _, c := range []struct{ url, err string }{
		{"redis-sentinel://h1:26379,h2:26379/0", "?master=NAME"},
		{"redis-sentinel://h1/0?master=m", "host:port"},
		{"redis-sentinel://h1:1/x?master=m", "a number"},
		{"redis://:hunter22@h:1/0?bogus=1", "bogus"},
	} {
		_, _, err := redisClient(c.url)
		if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: %v", RedactURL(c.url), err)
		}
	}
	for _, c := range []struct {
		url string
		tls bool
	}{
		{"redis-sentinel://h1:26379,h2:26379/0?master=m", false},
		{"rediss-sentinel://h1:26379,h2:26379/0?master=m", true},
	} {
		cl, replicas, err := redisClient(c.url)
		if err != nil {
			t.Fatal(err)
		}
		tc := cl.Options().TLSConfig
		if (tc != nil) != c.tls || replicas != 1 || !IsRedisURL(c.url) {
			t.Errorf("%s: TLS %v, %d replicas", c.url, tc != nil, replicas)
		}
		if tc != nil && (tc.ServerName != "" || tc.InsecureSkipVerify || tc.MinVersion < tls.VersionTLS12) {
			t.Errorf("%s: certificates are not checked against each address", c.url)
		}
		cl.Close()
	}
	if got := RedactURL("redis://u:hunter22@h:1/0"); strings.Contains(got, "hunter22") {
		t.Errorf("redacted: %s", got)
	}
	for _, u := range []string{
		"redis-sentinel://:Hunter2a@h:1,h:2/0?master=m&sentinel_password=Hunter2b",
		"redis://:/Hunter2+base64pw@h:6379/0",
		"redis://default:42/Hunter2c@h/0",
		"rediss://:7?Hunter2d@h/0",
		"redis://h:1/0?password=Hunter2e",
		"unix://:Hunter2f@/tmp/redis.sock",
	} {
		got := RedactURL(u)
		if strings.Contains(got, "Hunter2") {
			t.Errorf("a password is shown: %s", got)
		}
		if _, _, err := redisClient(u); err != nil && strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("an error shows a password: %v", err)
		}
	}
}

// A replica masks, wherever it stands, a value another replica learned
// after this one built its index, without a restart; and restores that
// replica's pseudonyms.
func TestRedisReplicaLearnsWhatAnotherIssued(t *testing.T) {
	srv := redistest.Start(t)
	a := engineOver(t, openRedisTest(t, srv.URL(), testKey))
	b := engineOver(t, openRedisTest(t, srv.URL(), testKey))
	if _, err := a.MaskBytes([]byte("nothing yet"), nil); err != nil {
		t.Fatal(err)
	}
	fromB, err := b.MaskBytes([]byte("aws s3 ls s3://acme-orders-archive"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pseudonym := strings.TrimPrefix(string(fromB), "aws s3 ls s3://")
	if pseudonym == "acme-orders-archive" {
		t.Fatal("the bucket was not masked")
	}
	// what the proxy does before each request
	if err := a.Refresh(); err != nil {
		t.Fatal(err)
	}
	// bare, in prose: masked only because the value is known
	got, err := a.MaskBytes([]byte("the acme-orders-archive bucket is full"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "the "+pseudonym+" bucket is full" {
		t.Error("a replica did not mask a value another replica learned")
	}
	back, err := a.UnmaskBytes(fromB, a.RestoreAll(), nil)
	if err != nil || string(back) != "aws s3 ls s3://acme-orders-archive" {
		t.Errorf("a replica did not restore another's pseudonym: %v", err)
	}
}

// A replica whose store was reset under it reads nothing more and masks
// nothing more: its cursor belongs to a log that is gone.
func TestRedisReplicaRefusesAfterReset(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	e := engineOver(t, s)
	if _, err := e.MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ResetRedis(context.Background(), srv.URL()); err != nil {
		t.Fatal(err)
	}
	openRedisTest(t, srv.URL(), testKey) // a new store, under the same key
	if err := e.Refresh(); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("refresh after a reset: %v", err)
	}
	if err := s.Check(); !errors.Is(err, ErrWrongKey) {
		t.Errorf("check after a reset: %v", err)
	}
}

// A Redis that comes back with fewer mappings than a replica read (it
// restarted from an older snapshot) is refused, not read on from a cursor
// past its end.
func TestRedisLostMappingsAreRefused(t *testing.T) {
	srv := redistest.Start(t, "appendonly no")
	s := openRedisTest(t, srv.URL(), testKey)
	e := engineOver(t, s)
	if _, err := e.MaskBytes([]byte("i-0a1b2c3d4e5f60718"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(srv.Addr(), "SAVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart() // from the snapshot: one mapping of five
	other := engineOver(t, openRedisTest(t, srv.URL(), testKey))
	if _, err := other.MaskBytes([]byte("i-0a1b2c3d4e5f60799 and i-0a1b2c3d4e5f60798 and i-0a1b2c3d4e5f60797 and i-0a1b2c3d4e5f60796"), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("refresh over a log that lost mappings: %v", err)
	}
}

// Where writes wait for a replica, so does every answer: a mapping issued,
// one found already issued by another process, a page of the log, a
// batch's restore set. A replica that is connected but applies nothing
// (CLIENT PAUSE WRITE) acknowledges nothing, and nothing is answered.
func TestRedisAnswersOnlyWhatAReplicaHolds(t *testing.T) {
	old := RedisTimeout
	RedisTimeout = time.Second
	t.Cleanup(func() { RedisTimeout = old })
	primary := redistest.Start(t, "repl-diskless-sync-delay 0")
	replica := redistest.Start(t, "replicaof 127.0.0.1 "+strconv.Itoa(primary.Port))
	waitReplicating(t, primary)
	a, b := openRedisTest(t, primary.URL(), testKey), openRedisTest(t, primary.URL(), testKey)
	a.replicas, b.replicas = 1, 1 // as a redis-sentinel:// URL sets
	m := func(orig string) []mask.Mapping {
		return []mask.Mapping{{Family: "f", Kind: "k", Original: orig, Pseudonym: "ps-" + orig}}
	}
	if _, err := a.Issue(m("orig-1"), proposeAgain); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "PAUSE", "10000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	unavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, mask.ErrStoreUnavailable) {
			t.Errorf("%s with the replica behind: %v, want ErrStoreUnavailable", what, err)
		}
	}
	_, err := a.Issue(m("orig-2"), proposeAgain)
	unavailable("a new mapping", err)
	_, err = b.Issue(m("orig-2"), proposeAgain)
	unavailable("a mapping another process wrote", err)
	unavailable("the log", b.Since(1, func([]mask.Mapping, uint64) { t.Error("a page of the log was answered") }))
	unavailable("a batch's restore set", a.SaveBatch("msgbatch_01", []string{"ps-orig-1"}))
	if err := b.Since(2, func([]mask.Mapping, uint64) { t.Error("an empty page was answered") }); err != nil {
		t.Errorf("the log's end with the replica behind: %v (nothing new needs the replica)", err)
	}
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "UNPAUSE"); err != nil {
		t.Fatal(err)
	}
	got, err := b.Issue(m("orig-2"), proposeAgain)
	if err != nil || got[0] != "ps-orig-2" {
		t.Errorf("once the replica caught up: %q %v", got, err)
	}
	var n int
	if err := b.Since(0, func(batch []mask.Mapping, _ uint64) { n += len(batch) }); err != nil || n != 2 {
		t.Errorf("once the replica caught up the log holds %d mappings: %v", n, err)
	}
}

// A TLS certificate the system does not trust is refused, and the error
// says so.
func TestRedisUntrustedCertificateRefused(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler()) // any TLS server with its own CA
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	_, err := OpenRedis(context.Background(), "rediss://"+srv.Listener.Addr().String()+"/0", testKey)
	if !errors.Is(err, mask.ErrStoreUnavailable) || !strings.Contains(err.Error(), "TLS certificate was not accepted") {
		t.Errorf("got %v", err)
	}
}

// With min-replicas-to-write (deploy/team/redis.conf), a primary that has
// seen its replica go takes no write: a new mapping is refused at once,
// and nothing that no replica holds enters the log, so the other
// processes' refreshes, and their requests that need no new mapping, go
// on.
func TestRedisWithoutReplicaRefusesOnlyNewMappings(t *testing.T) {
	old := RedisTimeout
	RedisTimeout = time.Second
	t.Cleanup(func() { RedisTimeout = old })
	for _, c := range []struct {
		conf          []string
		refreshPasses bool
	}{
		{[]string{"repl-diskless-sync-delay 0", "min-replicas-to-write 1"}, true},
		// without it, the failed write's mapping is in the log, and no
		// one reads past it until a replica holds it
		{[]string{"repl-diskless-sync-delay 0"}, false},
	} {
		primary := redistest.Start(t, c.conf...)
		replica := redistest.Start(t, "replicaof 127.0.0.1 "+strconv.Itoa(primary.Port))
		waitReplicating(t, primary)
		a, b := openRedisTest(t, primary.URL(), testKey), openRedisTest(t, primary.URL(), testKey)
		a.replicas, b.replicas = 1, 1
		if _, err := a.Issue(newMappings("orig-1"), proposeAgain); err != nil {
			t.Fatal(err)
		}
		replica.Kill()
		// the primary has seen its replica go (a write before that is
		// made, and fails its WAIT)
		for {
			info, _ := redistest.DoAll(primary.Addr(), "INFO", "replication")
			if strings.Contains(strings.Join(info, ""), "connected_slaves:0") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := a.Issue(newMappings("orig-2"), proposeAgain); !errors.Is(err, mask.ErrStoreUnavailable) {
			t.Errorf("%v: a new mapping without the replica: %v", c.conf, err)
		}
		err := b.Since(1, func([]mask.Mapping, uint64) {})
		if (err == nil) != c.refreshPasses {
			t.Errorf("%v: a refresh without the replica: %v", c.conf, err)
		}
	}
}

// waitReplicating waits until the primary's replica acknowledges a write.
func waitReplicating(t *testing.T, primary *redistest.Server) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var wait *redis.Cmd
		c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "warm-up", "1", 0)
			wait = p.Do(ctx, "wait", 1, 100)
			return nil
		})
		if n, _ := wait.Int64(); n == 1 {
			c.Del(ctx, "warm-up")
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not acknowledge a write within 10 s")
		}
	}
}
