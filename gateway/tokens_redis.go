package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/redis/go-redis/v9"
)

// RedisTokens are the gateway's tokens in the Redis that replicas share:
// a token created or revoked through any RedisTokens on that Redis (the
// token command on any host) holds for every replica from its next
// request on. Like the file, Redis keeps each token's SHA-256, never the
// token.
type RedisTokens struct {
	c redis.UniversalClient
	// Replicas is how many Redis replicas a create or a revoke waits for
	// (WAIT) before it is acknowledged, so that a failover does not bring
	// back a revoked token.
	Replicas int
}

// NewRedisTokens keeps tokens in the Redis c is connected to; the caller
// closes c.
func NewRedisTokens(c redis.UniversalClient) *RedisTokens {
	return &RedisTokens{c: c}
}

var (
	redisTokensKey = redisPrefix + "tokens"
	redisNamesKey  = redisPrefix + "token-names"
)

// A name and its hash are written together, and only if the name is
// free; a revoke deletes both.
var (
	createTokenScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1`)
	revokeTokenScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[2], ARGV[1])
if not h then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], h)
return 1`)
)

// Create implements TokenStore.
func (t *RedisTokens) Create(name string, role Role) (string, error) {
	secret, tok, err := newToken(name, role)
	if err != nil {
		return "", err
	}
	val, err := json.Marshal(tok)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), store.RedisTimeout)
	defer cancel()
	made, err := createTokenScript.Run(ctx, t.c, []string{redisTokensKey, redisNamesKey}, tok.Name, tok.Hash, val).Int()
	if err != nil {
		return "", unavailable(err)
	}
	if made == 0 {
		return "", errNameTaken(name)
	}
	if err := t.waitReplicas(ctx); err != nil {
		return "", err
	}
	return secret, nil
}

// Revoke implements TokenStore.
func (t *RedisTokens) Revoke(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), store.RedisTimeout)
	defer cancel()
	gone, err := revokeTokenScript.Run(ctx, t.c, []string{redisTokensKey, redisNamesKey}, name).Int()
	if err != nil {
		return unavailable(err)
	}
	if gone == 0 {
		return errNoToken(name)
	}
	return t.waitReplicas(ctx)
}

// waitReplicas waits for the last write to reach t.Replicas replicas.
func (t *RedisTokens) waitReplicas(ctx context.Context) error {
	if t.Replicas <= 0 {
		return nil
	}
	n, err := t.c.Do(ctx, "wait", t.Replicas, (store.RedisTimeout * 2 / 3).Milliseconds()).Int64()
	if err != nil {
		return unavailable(err)
	}
	if n < int64(t.Replicas) {
		return fmt.Errorf("%w: the change reached %d of %d Redis replicas; run it again", ErrUnavailable, n, t.Replicas)
	}
	return nil
}

// List implements TokenStore.
func (t *RedisTokens) List() ([]Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), store.RedisTimeout)
	defer cancel()
	all, err := t.c.HGetAll(ctx, redisTokensKey).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	toks := make([]Token, 0, len(all))
	for hash, v := range all {
		tok, err := decodeRedisToken(hash, v)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
	}
	slices.SortFunc(toks, func(a, b Token) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name))
	})
	return toks, nil
}

// Check implements TokenStore: one round trip to Redis.
func (t *RedisTokens) Check(secret string) (Token, bool, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, false, nil
	}
	hash := hashToken(secret)
	ctx, cancel := context.WithTimeout(context.Background(), store.RedisTimeout)
	defer cancel()
	v, err := t.c.HGet(ctx, redisTokensKey, hash).Result()
	if errors.Is(err, redis.Nil) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, unavailable(err)
	}
	tok, err := decodeRedisToken(hash, v)
	if err != nil {
		return Token{}, false, err
	}
	return tok, true, nil
}

// Count implements TokenStore.
func (t *RedisTokens) Count() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), store.RedisTimeout)
	defer cancel()
	n, err := t.c.HLen(ctx, redisTokensKey).Result()
	return int(n), unavailable(err)
}

// decodeRedisToken reads a token's entry; the field it is under is its
// hash.
func decodeRedisToken(hash, v string) (Token, error) {
	var tok Token
	if err := json.Unmarshal([]byte(v), &tok); err != nil || tok.Hash != hash {
		return Token{}, fmt.Errorf("a token in Redis (%s) is damaged", redisTokensKey)
	}
	if _, err := ParseRole(string(tok.Role)); err != nil {
		return Token{}, fmt.Errorf("a token in Redis (%s) is damaged: %v", redisTokensKey, err)
	}
	return tok, nil
}
