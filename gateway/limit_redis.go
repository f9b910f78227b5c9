package gateway

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/redis/go-redis/v9"
)

//go:embed limit_redis.lua
var limitScriptSrc string

var limitScript = redis.NewScript(limitScriptSrc)

// redisLimiter counts the per-token limits in the Redis replicas share, so
// a token limited to 10 a second gets 10 a second from all of them
// together. One script call per request: both limits are checked and
// taken at once.
type redisLimiter struct {
	c      redis.UniversalClient
	limits Limits
}

func newRedisLimiter(c redis.UniversalClient, l Limits) *redisLimiter {
	return &redisLimiter{c: c, limits: l}
}

// take implements rateLimiter. A zero now uses Redis's clock, which every
// replica shares whatever its own clock says.
func (l *redisLimiter) take(ctx context.Context, caller string, now time.Time) (bool, time.Duration, error) {
	if l.limits.PerSecond <= 0 && l.limits.PerHour <= 0 {
		return true, 0, nil
	}
	var sInterval, sBurst, hInterval, hBurst int64
	if l.limits.PerSecond > 0 {
		sInterval = max(1, int64(math.Round(1e6/l.limits.PerSecond)))
		sBurst = max(1, int64(math.Ceil(l.limits.PerSecond)))
	}
	if l.limits.PerHour > 0 {
		hInterval = max(1, int64(math.Round(3600e6/float64(l.limits.PerHour))))
		hBurst = int64(l.limits.PerHour)
	}
	nowArg := ""
	if !now.IsZero() {
		nowArg = strconv.FormatInt(now.UnixMicro(), 10)
	}
	key := redisPrefix + "limit:" + caller
	ctx, cancel := context.WithTimeout(ctx, store.RedisTimeout)
	defer cancel()
	res, err := limitScript.Run(ctx, l.c, []string{key + ":s", key + ":h"}, nowArg, sInterval, sBurst, hInterval, hBurst).Int64Slice()
	if err != nil {
		return false, 0, unavailable(err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("%w: the rate limit script answered %d values", ErrUnavailable, len(res))
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Microsecond, nil
}
