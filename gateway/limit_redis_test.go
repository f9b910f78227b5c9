package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/redistest"
)

// fakeClock is the time the gateways of a test agree on; it moves only
// when the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Rate limit across two replicas: a token limited to 10/s gets 10/s in
// total, not 20. Both replicas read one frozen clock, so the count does
// not depend on how fast this machine answers: a burst spread over both
// gets the burst (10) and no more, a second later 10 more, and a quarter
// of a second after that 2. The same replicas counting in memory let
// twice as many through, which is what this test tells apart.
func TestRateLimitAcrossReplicas(t *testing.T) {
	srv := sharedRedis(t)
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, c := range []struct {
		name   string
		shared bool
		want   []int
	}{
		{"shared Redis", true, []int{10, 10, 2}},
		{"each in memory", false, []int{20, 20, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			replica := func() *testGateway {
				g := newReplica(t, srv, func(cfg *Config) {
					cfg.Limits = Limits{PerSecond: 10}
					if !c.shared {
						cfg.Shared = nil
					}
				})
				g.clock = clock.Now
				return g
			}
			one, two := replica(), replica()
			tok := one.token(t, "alice-"+strconv.FormatBool(c.shared), RoleUser)
			for round, step := range []time.Duration{0, time.Second, 250 * time.Millisecond} {
				clock.Add(step)
				accepted := 0
				for i := range 30 {
					g := []*testGateway{one, two}[i%2]
					resp, body := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: tok}, messagesBody(false))
					switch resp.StatusCode {
					case http.StatusOK:
						accepted++
					case http.StatusTooManyRequests:
						if errorType(t, body) != "rate_limit_error" || resp.Header.Get("Retry-After") != "1" {
							t.Fatalf("a refusal: %s, Retry-After %q", body, resp.Header.Get("Retry-After"))
						}
					default:
						t.Fatalf("status %d: %s", resp.StatusCode, body)
					}
				}
				if accepted != c.want[round] {
					t.Errorf("round %d (+%v): %d of 30 accepted, want %d", round, step, accepted, c.want[round])
				}
			}
			// the next test starts on a fresh second
			clock.Add(time.Hour)
		})
	}
}

// The limiter in Redis answers as the one in memory does (burst, refill,
// hourly limit, a refusal taking nothing, the wait it reports) for the
// same requests at the same times.
func TestRedisLimiterMatchesMemory(t *testing.T) {
	srv := sharedRedis(t)
	c := redisClient(t, srv)
	ctx := context.Background()
	for _, l := range []Limits{
		{PerSecond: 10},
		{PerSecond: 4, PerHour: 7200},
		{PerSecond: 0.5},
		{PerSecond: 100, PerHour: 3},
		{PerHour: 36},
	} {
		mem, red := newLimiter(l), newRedisLimiter(c, l)
		caller := "t-" + strconv.FormatFloat(l.PerSecond, 'f', -1, 64) + "-" + strconv.Itoa(l.PerHour)
		rng := rand.New(rand.NewPCG(1, uint64(l.PerHour)))
		now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		allowed := 0
		for i := range 400 {
			// mostly bursts, now and then a pause
			switch rng.IntN(10) {
			case 0:
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			case 1:
				now = now.Add(time.Duration(rng.IntN(30)) * time.Minute)
			default:
				now = now.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
			}
			okM, waitM, _ := mem.take(ctx, caller, now)
			okR, waitR, err := red.take(ctx, caller, now)
			if err != nil {
				t.Fatal(err)
			}
			if okM != okR || (waitM-waitR).Abs() > time.Millisecond {
				t.Fatalf("%+v, request %d: memory %v (wait %v), Redis %v (wait %v)", l, i, okM, waitM, okR, waitR)
			}
			if okR {
				allowed++
			}
		}
		if allowed == 0 || allowed == 400 {
			t.Errorf("%+v: %d of 400 allowed: the sequence tests nothing", l, allowed)
		}
	}
}

// Left to Redis's own clock (as in production), the limiter counts and
// its keys expire once their buckets are full again.
func TestRedisLimiterOwnClockAndExpiry(t *testing.T) {
	srv := sharedRedis(t)
	c := redisClient(t, srv)
	ctx := context.Background()
	// one request every 2 s: the second at once is refused however slow
	// the machine is
	l := newRedisLimiter(c, Limits{PerSecond: 0.5, PerHour: 100})
	if ok, _, err := l.take(ctx, "alice", time.Time{}); !ok || err != nil {
		t.Fatalf("first request: %v %v", ok, err)
	}
	ok, wait, err := l.take(ctx, "alice", time.Time{})
	if ok || err != nil || wait <= time.Second || wait > 2*time.Second {
		t.Fatalf("second request at once: allowed=%v wait=%v err=%v, want a refusal for 1 to 2 s", ok, wait, err)
	}
	for key, most := range map[string]time.Duration{
		redisPrefix + "limit:alice:s": 2 * time.Second,
		redisPrefix + "limit:alice:h": 36 * time.Second,
	} {
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > most {
			t.Errorf("%s: TTL %v %v, want (0, %v]", key, ttl, err, most)
		}
	}
	// no limits, no call
	free := newRedisLimiter(c, Limits{})
	srv.Kill()
	if ok, _, err := free.take(ctx, "alice", time.Time{}); !ok || err != nil {
		t.Fatalf("without limits: %v %v", ok, err)
	}
	if _, _, err := l.take(ctx, "alice", time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Redis down: %v, want ErrUnavailable", err)
	}
}

// Redis down: the limits cannot be counted, so a request with a good token
// (here from the token file) is refused with a 503 to retry, never served
// unlimited; back up, it is served.
func TestRedisLimitsDownFailClosed(t *testing.T) {
	srv := sharedRedis(t)
	c := redisClient(t, srv)
	g := newTestGateway(t, func(cfg *Config) { cfg.Shared = c; cfg.Limits = DefaultLimits })
	tok := g.token(t, "alice", RoleUser)
	if st := callStatus(t, g, tok); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	srv.Kill()
	resp, body := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: tok}, messagesBody(false))
	if resp.StatusCode != http.StatusServiceUnavailable || errorType(t, body) != "api_error" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("Redis down: status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if g.api.Hits.Load() != 1 {
		t.Fatal("a request went upstream while its limits could not be counted")
	}
	srv.Restart()
	if st := callStatus(t, g, tok); st != http.StatusOK {
		t.Fatalf("after Redis came back: status %d, want 200", st)
	}
}

// BenchmarkRedisLimiter is the cost of one limit check in production's
// shape: one script call to a Redis on loopback, on Redis's clock (a
// Redis without persistence: with appendfsync always, each check waits
// for its fsync).
func BenchmarkRedisLimiter(b *testing.B) {
	l := newRedisLimiter(redisClient(b, redistest.Start(b)), Limits{PerSecond: 1e9, PerHour: 1 << 30})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if ok, _, err := l.take(ctx, "alice", time.Time{}); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkRedisTokenCheck is the cost of checking a token in Redis.
func BenchmarkRedisTokenCheck(b *testing.B) {
	toks := NewRedisTokens(redisClient(b, redistest.Start(b)))
	tok, err := toks.Create("alice", RoleUser)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := toks.Check(tok); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
