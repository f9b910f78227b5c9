package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/redis/go-redis/v9"
)

// genRotating is the key generation while a rotation runs: no process
// issues under it (see redis_issue.lua), and the generation it replaces
// is kept in the meta field "rotating".
const genRotating = "rotating"

// freezeScript stops issuing for a rotation: it sets the generation to
// genRotating if it is ARGV[1] (or already is, for ARGV[1], after an
// interrupted rotation).
var freezeScript = redis.NewScript(`
local g = redis.call('HGET', KEYS[1], 'gen')
if g == ARGV[1] then
  redis.call('HSET', KEYS[1], 'gen', 'rotating', 'rotating', ARGV[1])
  return 1
end
if g == 'rotating' and redis.call('HGET', KEYS[1], 'rotating') == ARGV[1] then
  return 1
end
return 0
`)

// switchScript installs the new key's store in one step: the new log, the
// new check and seed, a new generation.
var switchScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'gen') ~= 'rotating' or redis.call('HGET', KEYS[1], 'rotating') ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('HSET', KEYS[1], 'check', ARGV[2], 'seed', ARGV[3], 'gen', ARGV[4])
redis.call('HDEL', KEYS[1], 'rotating')
return 1
`)

// RotateKey re-seals the store under newKey: every key name and value
// changes, no pseudonym does. Issuing stops for every replica while it
// runs (their requests get 503s) and, once the new key is installed,
// replicas still on the old key refuse to issue until they are restarted
// with the new one. The switch is one atomic step: an interrupted rotation
// leaves the store under the old key (run it again) or the new one.
func (s *RedisStore) RotateKey(ctx context.Context, newKey []byte) (*RedisStore, error) {
	nk, err := deriveKeys(newKey)
	if err != nil {
		return nil, err
	}
	meta := redisKeys{}.meta()
	ok, err := freezeScript.Run(ctx, s.c, []string{meta}, s.gen).Int()
	if err != nil {
		return nil, s.unavailable(err)
	}
	if ok != 1 {
		return nil, fmt.Errorf("%w: the store's key was rotated by another process", ErrWrongKey)
	}
	ns := &RedisStore{keys: nk, c: s.c, name: s.name, seed: s.seed, replicas: s.replicas}
	live, err := s.resealInto(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("failed to rotate the store key (the old key still opens it; run rotate-key again): %w", err)
	}
	gen := make([]byte, 16)
	rand.Read(gen)
	ns.gen = hex.EncodeToString(gen)
	done, err := switchScript.Run(ctx, s.c, []string{meta, redisKeys{}.log(), redisKeys{}.log() + ".next"},
		s.gen, ns.seal([]byte(checkPlaintext), metaCheck), ns.seal(s.seed, metaSeed), ns.gen).Int()
	if err != nil {
		return nil, s.unavailable(err)
	}
	if done != 1 {
		return nil, fmt.Errorf("%w: the store's key was rotated by another process", ErrWrongKey)
	}
	// what the old key named is unreadable now; drop it
	if err := s.sweep(ctx, live); err != nil {
		return nil, fmt.Errorf("the key was rotated, but the old key's entries were not all deleted: %w", err)
	}
	return ns, nil
}

// resealInto writes every mapping and batch under ns's names and key (the
// log as log.next), and returns the names written.
func (s *RedisStore) resealInto(ctx context.Context, ns *RedisStore) (map[string]bool, error) {
	live := map[string]bool{}
	next := redisKeys{}.log() + ".next"
	if err := s.c.Del(ctx, next).Err(); err != nil {
		return nil, s.unavailable(err)
	}
	rev := map[string]bool{}
	var werr error
	err := s.Since(0, func(batch []mask.Mapping, _ uint64) {
		if werr != nil {
			return
		}
		p := s.c.Pipeline()
		for _, m := range batch {
			f := ns.fwdKey(m.Family, m.Original)
			o := ns.origKey(m.Original)
			r := ns.revKey(m.Pseudonym)
			v := ns.seal(encodeRecord(m), f)
			fk, rk, ok := redisPrefix+"f:"+string(f), redisPrefix+"r:"+string(r), redisPrefix+"o:"+string(o)
			p.Set(ctx, fk, v, 0)
			if !rev[rk] { // the first original a pseudonym was issued for keeps it
				rev[rk] = true
				p.Set(ctx, rk, string(o)+string(f), 0)
			}
			p.Set(ctx, ok, "", 0)
			p.RPush(ctx, next, string(f)+string(v))
			live[fk], live[rk], live[ok] = true, true, true
		}
		_, werr = p.Exec(ctx)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, s.unavailable(err)
	}
	err = s.Batches(func(id string, ps []string) error {
		k := ns.batchKey(id)
		name := redisPrefix + "b:" + string(k)
		live[name] = true
		return s.c.Set(ctx, name, ns.seal(encodeBatch(id, ps), k), 0).Err()
	})
	if err != nil {
		return nil, s.unavailable(err)
	}
	return live, nil
}

// sweep deletes the store's mapping and batch entries that are not live.
func (s *RedisStore) sweep(ctx context.Context, live map[string]bool) error {
	for _, kind := range []string{"f:", "r:", "o:", "b:"} {
		iter := s.c.Scan(ctx, 0, redisPrefix+kind+"*", 1000).Iterator()
		var dead []string
		for iter.Next(ctx) {
			if !live[iter.Val()] {
				dead = append(dead, iter.Val())
			}
		}
		if err := iter.Err(); err != nil {
			return s.unavailable(err)
		}
		for len(dead) > 0 {
			n := min(len(dead), 1000)
			if err := s.c.Unlink(ctx, dead[:n]...).Err(); err != nil {
				return s.unavailable(err)
			}
			dead = dead[n:]
		}
	}
	return nil
}

// Batches calls each with every message batch's restore set.
func (s *RedisStore) Batches(each func(id string, pseudonyms []string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*RedisTimeout)
	defer cancel()
	iter := s.c.Scan(ctx, 0, redisPrefix+"b:*", 1000).Iterator()
	for iter.Next(ctx) {
		name := iter.Val()
		k := strings.TrimPrefix(name, redisPrefix+"b:")
		if len(k) != sha256.Size {
			continue
		}
		v, err := s.c.Get(ctx, name).Result()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			return s.unavailable(err)
		}
		plain, err := s.open([]byte(v), []byte(k))
		if err != nil {
			continue // another key's entry, left by an interrupted rotation
		}
		id, _, err := batchID(plain)
		if err != nil {
			return s.damaged("a batch's restore set is out of form")
		}
		ps, err := decodeBatch(plain)
		if err != nil {
			return s.damaged("a batch's restore set is out of form")
		}
		if err := each(id, ps); err != nil {
			return err
		}
	}
	return s.unavailable(iter.Err())
}
