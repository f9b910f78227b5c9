package gateway

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the per-token request rates; zero means unlimited. With a
// shared Redis (Config.Shared) they hold across every replica using it.
type Limits struct {
	PerSecond float64 // sustained rate; the burst is the same number
	PerHour   int
}

// DefaultLimits are 10 requests a second and 1,000 an hour per token.
var DefaultLimits = Limits{PerSecond: 10, PerHour: 1000}

// rateLimiter takes one request from a caller's allowance, or says how
// long to wait before one would be allowed (and takes nothing). A zero now
// means the limiter's own clock. An error means the limits could not be
// checked: the request is refused.
type rateLimiter interface {
	take(ctx context.Context, caller string, now time.Time) (bool, time.Duration, error)
}

// limiter keeps two token buckets per caller in memory: one per second,
// one per hour.
type limiter struct {
	limits Limits
	mu     sync.Mutex
	by     map[string]*buckets
}

type buckets struct{ second, hour *rate.Limiter }

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, by: map[string]*buckets{}}
}

// take implements rateLimiter.
func (l *limiter) take(_ context.Context, caller string, now time.Time) (bool, time.Duration, error) {
	if now.IsZero() {
		now = time.Now()
	}
	ok, wait := l.allow(caller, now)
	return ok, wait, nil
}

// allow takes one request from the caller's buckets, or reports how long
// to wait before one would be allowed (and takes nothing).
func (l *limiter) allow(caller string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b := l.by[caller]
	if b == nil {
		b = &buckets{}
		if l.limits.PerSecond > 0 {
			b.second = rate.NewLimiter(rate.Limit(l.limits.PerSecond), max(1, int(math.Ceil(l.limits.PerSecond))))
		}
		if l.limits.PerHour > 0 {
			b.hour = rate.NewLimiter(rate.Limit(float64(l.limits.PerHour)/3600), l.limits.PerHour)
		}
		l.by[caller] = b
	}
	l.mu.Unlock()
	var wait time.Duration
	var taken []*rate.Reservation
	for _, lim := range []*rate.Limiter{b.second, b.hour} {
		if lim == nil {
			continue
		}
		r := lim.ReserveN(now, 1)
		taken = append(taken, r)
		if !r.OK() {
			wait = time.Hour
			continue
		}
		wait = max(wait, r.DelayFrom(now))
	}
	if wait > 0 {
		for _, r := range taken {
			r.CancelAt(now)
		}
		return false, wait
	}
	return true, 0
}
