package gateway

import (
	"errors"
	"fmt"

	"github.com/claude-secure/claude-secure/mask/store"
)

// Replicas of a gateway behind one load balancer share their tokens and
// rate limits in the Redis of the shared store (--store), in keys of their
// own beside the store's:
//
//	claude-secure-gateway:tokens          hash: a token's SHA-256 (hex) →
//	                                      its name, role and creation time (JSON)
//	claude-secure-gateway:token-names     hash: a token's name → its SHA-256
//	claude-secure-gateway:limit:<name>:s  the per-second limit's theoretical
//	claude-secure-gateway:limit:<name>:h  arrival time (GCRA), in µs; each
//	                                      expires when its bucket is full again
//
// The prefix is not the store's "claude-secure:", so `store reset` leaves
// the tokens alone. Redis holds no token, only its SHA-256, as the file
// does.
const redisPrefix = "claude-secure-gateway:"

// ErrUnavailable means the Redis holding the gateway's shared state
// (tokens, rate limits) could not be reached. A gateway refuses the
// request with a 503 the client retries; it never serves it unchecked.
var ErrUnavailable = errors.New("the gateway's shared state in Redis cannot be reached")

// unavailable marks an error from Redis as ErrUnavailable, with a reason
// that names no key and no value.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, store.RedisReason(err))
}
