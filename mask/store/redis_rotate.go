package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/redis/go-redis/v9"
)

// genRotating is the key generation while a rotation runs: no process
// issues under it (see redis_issue.lua), and the generation it replaces
// is kept in the meta field "rotating".
const genRotating = "rotating"

// rotationLease is how long a rotation holds the store without showing
// it is alive (it renews the lease at every page it re-seals); a rotation
// whose process stopped can be taken up once its lease is over.
var rotationLease = 60 * time.Second

// freezeScript stops issuing for a rotation and takes the rotation's lease
// (KEYS: meta, the lease key; ARGV: this process's generation, the
// rotation's token, the lease in ms). It answers 1 when the rotation may
// run, 0 when the store is not of this generation, -1 while another
// rotation holds the lease. An interrupted rotation of this generation
// (its lease over) is taken up.
var freezeScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then
  return -1
end
local g = redis.call('HGET', KEYS[1], 'gen')
if g == ARGV[1] then
  redis.call('HSET', KEYS[1], 'gen', 'rotating', 'rotating', ARGV[1])
elseif not (g == 'rotating' and redis.call('HGET', KEYS[1], 'rotating') == ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`)

// renewScript extends the lease if this rotation still holds it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// unfreezeScript gives the store back to its generation after a rotation
// failed (KEYS: meta, the lease key; ARGV: the generation, the token).
var unfreezeScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] or redis.call('HGET', KEYS[1], 'gen') ~= 'rotating' then
  return 0
end
redis.call('HSET', KEYS[1], 'gen', ARGV[1])
redis.call('HDEL', KEYS[1], 'rotating')
redis.call('DEL', KEYS[2])
return 1
`)

// switchScript installs the new key's store in one step: the new log, the
// new check and seed, a new generation (KEYS: meta, log, log.next, the
// lease key; ARGV: the old generation, the token, check, seed, the new
// generation).
var switchScript = redis.NewScript(`
if redis.call('GET', KEYS[4]) ~= ARGV[2] or redis.call('HGET', KEYS[1], 'gen') ~= 'rotating'
  or redis.call('HGET', KEYS[1], 'rotating') ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('HSET', KEYS[1], 'check', ARGV[3], 'seed', ARGV[4], 'gen', ARGV[5])
redis.call('HDEL', KEYS[1], 'rotating')
redis.call('DEL', KEYS[4])
return 1
`)

func rotationKey() string { return redisPrefix + "rotation" }

// RotateKey re-seals the store under newKey: every key name and value
// changes, no pseudonym does. Issuing stops for every replica while it
// runs (their requests get 503s) and, once the new key is installed,
// replicas still on the old key refuse to issue until they are restarted
// with the new one. One rotation runs at a time (it holds a lease). The
// switch is one atomic step: a rotation that fails gives the store back
// to the old key, and one whose process stopped leaves it under the old
// key, issuing nothing, until rotate-key runs again.
func (s *RedisStore) RotateKey(ctx context.Context, newKey []byte) (*RedisStore, error) {
	nk, err := deriveKeys(newKey)
	if err != nil {
		return nil, err
	}
	meta := redisKeys{}.meta()
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	ok, err := freezeScript.Run(ctx, s.c, []string{meta, rotationKey()}, s.gen, token, rotationLease.Milliseconds()).Int()
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	switch ok {
	case -1:
		return nil, fmt.Errorf("%w (%s): another key rotation is running; if its process stopped, try again in %v", mask.ErrStoreUnavailable, s.name, rotationLease)
	case 0:
		return nil, fmt.Errorf("%w: the store's key was rotated by another process", ErrWrongKey)
	}
	ns := &RedisStore{keys: nk, c: s.c, name: s.name, seed: s.seed, replicas: s.replicas}
	dead, err := s.resealInto(ctx, ns, token)
	if err != nil {
		uctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
		defer cancel()
		unfreezeScript.Run(uctx, s.c, []string{meta, rotationKey()}, s.gen, token)
		return nil, fmt.Errorf("failed to rotate the store key (the old key still opens it): %w", err)
	}
	gen := make([]byte, 16)
	rand.Read(gen)
	ns.gen = hex.EncodeToString(gen)
	// the switch and its WAIT go down one connection (WAIT counts what
	// its own connection wrote); the script is sent whole, as a primary
	// just promoted has no script cache
	var sw, wait *redis.Cmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		sw = switchScript.Eval(ctx, p, []string{meta, redisKeys{}.log(), redisKeys{}.log() + ".next", rotationKey()},
			s.gen, token, ns.seal([]byte(checkPlaintext), metaCheck), ns.seal(s.seed, metaSeed), ns.gen)
		wait = s.queueDurable(ctx, p)
		return nil
	})
	done, serr := sw.Int()
	if serr != nil {
		return nil, s.unavailable(ctx, serr)
	}
	if done != 1 {
		return nil, fmt.Errorf("%w (%s): the rotation lost its lease to another; run rotate-key again", mask.ErrStoreUnavailable, s.name)
	}
	// the old key's entries go once the switch is on the replicas: a
	// failover to a replica without it must find them
	if err != nil || s.replicated(wait) != nil {
		return ns, nil // the old entries stay, unreadable under the new key
	}
	if err := s.unlink(ctx, dead); err != nil {
		return nil, fmt.Errorf("the key was rotated, but the old key's entries were not all deleted: %w", err)
	}
	return ns, nil
}

// resealInto writes every mapping and batch under ns's names and key (the
// log as log.next), renewing the rotation's lease at every page, and
// returns the old key's names, to delete once the new key is installed.
func (s *RedisStore) resealInto(ctx context.Context, ns *RedisStore, token string) ([]string, error) {
	var dead []string
	next := redisKeys{}.log() + ".next"
	if err := s.c.Del(ctx, next).Err(); err != nil {
		return nil, s.unavailable(ctx, err)
	}
	renew := func() error {
		ok, err := renewScript.Run(ctx, s.c, []string{rotationKey()}, token, rotationLease.Milliseconds()).Int()
		if err != nil {
			return s.unavailable(ctx, err)
		}
		if ok != 1 {
			return fmt.Errorf("%w (%s): the rotation lost its lease", mask.ErrStoreUnavailable, s.name)
		}
		return nil
	}
	rev := map[string]bool{}
	var werr error
	err := s.Since(0, func(batch []mask.Mapping, _ uint64) {
		if werr != nil {
			return
		}
		if werr = renew(); werr != nil {
			return
		}
		p := s.c.Pipeline()
		for _, m := range batch {
			f := ns.fwdKey(m.Family, m.Original)
			o := ns.origKey(m.Original)
			r := ns.revKey(m.Pseudonym)
			v := ns.seal(encodeRecord(m), f)
			rk := redisPrefix + "r:" + string(r)
			p.Set(ctx, redisPrefix+"f:"+string(f), v, 0)
			if !rev[rk] { // the first original a pseudonym was issued for keeps it
				rev[rk] = true
				p.Set(ctx, rk, string(o)+string(f), 0)
			}
			p.Set(ctx, redisPrefix+"o:"+string(o), "", 0)
			p.RPush(ctx, next, string(f)+string(v))
			dead = append(dead,
				redisPrefix+"f:"+string(s.fwdKey(m.Family, m.Original)),
				redisPrefix+"r:"+string(s.revKey(m.Pseudonym)),
				redisPrefix+"o:"+string(s.origKey(m.Original)))
		}
		_, werr = p.Exec(ctx)
		if werr != nil {
			werr = s.unavailable(ctx, werr)
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	err = s.Batches(func(id string, ps []string) error {
		k := ns.batchKey(id)
		dead = append(dead, redisPrefix+"b:"+string(s.batchKey(id)))
		return s.c.Set(ctx, redisPrefix+"b:"+string(k), ns.seal(encodeBatch(id, ps), k), 0).Err()
	})
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	return dead, renew()
}

// unlink deletes names, a thousand at a time.
func (s *RedisStore) unlink(ctx context.Context, names []string) error {
	for len(names) > 0 {
		n := min(len(names), 1000)
		if err := s.c.Unlink(ctx, names[:n]...).Err(); err != nil {
			return s.unavailable(ctx, err)
		}
		names = names[n:]
	}
	return nil
}

// Batches calls each with every message batch's restore set, reading a
// page of them per round trip. Entries that do not open under this key
// (left by another key's interrupted rotation) are passed over.
func (s *RedisStore) Batches(each func(id string, pseudonyms []string) error) error {
	ctx := context.Background()
	var cursor uint64
	for {
		cctx, cancel := context.WithTimeout(ctx, RedisTimeout)
		names, next, err := s.c.Scan(cctx, cursor, redisPrefix+"b:*", 1000).Result()
		var vals []any
		if err == nil && len(names) > 0 {
			vals, err = s.c.MGet(cctx, names...).Result()
		}
		cancel()
		if err != nil {
			return s.unavailable(ctx, err)
		}
		for i, name := range names {
			v, _ := vals[i].(string)
			k := strings.TrimPrefix(name, redisPrefix+"b:")
			if v == "" || len(k) != sha256.Size {
				continue
			}
			plain, err := s.open([]byte(v), []byte(k))
			if err != nil {
				continue
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
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
