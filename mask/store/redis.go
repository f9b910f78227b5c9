package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/redis/go-redis/v9"
)

// A Redis store keeps what the file store keeps, sealed the same way, in
// keys under one prefix:
//
//	claude-secure:meta       hash: format, gen, check and seed (sealed);
//	                         rotating while a key rotation runs
//	claude-secure:f:<fwd>    a mapping, sealed, by keyed hash of family and original
//	claude-secure:r:<rev>    by keyed hash of the pseudonym: the original's
//	                         keyed hash and the forward key (no value)
//	claude-secure:o:<orig>   marks an original, any family (no value)
//	claude-secure:log        list of every mapping in the order issued
//	                         (forward key, then the sealed mapping)
//	claude-secure:b:<batch>  a message batch's restore set, sealed
//	claude-secure:sync       a counter, written only to be replicated (see
//	                         queueDurable)
//	claude-secure:rotation   the lease of a running key rotation
//	                         (redis_rotate.go), and log.next its new log
//
// Every key name past the prefix is an HMAC under the store key's index
// key, and every value is AES-GCM sealed under its encryption key: Redis,
// its RDB and AOF files and its replication stream hold no original and no
// pseudonym. A mapping is issued by one script that sets the forward and
// the reverse key only if neither is taken, so replicas that propose
// mappings at once end with one pseudonym per original and one original
// per pseudonym.
const redisPrefix = "claude-secure:"

// redisFormat is the Redis layout's version.
const redisFormat = 1

// RedisTimeout bounds one call to Redis (a round trip, or a WAIT for
// replicas).
var RedisTimeout = 3 * time.Second

//go:embed redis_issue.lua
var issueScriptSrc string

var issueScript = redis.NewScript(issueScriptSrc)

// quiet drops go-redis's own log lines: errors reach the caller, and only
// the caller decides what is printed.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// RedisStore is a mapping store in Redis, shared by every process and host
// that opens it with the same key. It is safe for concurrent use.
type RedisStore struct {
	keys
	c    *redis.Client
	name string // the URL without its password
	seed []byte
	gen  string // changes when the key is rotated
	// replicas a write waits for (WAIT) before it is acknowledged
	replicas int

	// the log cursor the last read ended at and the forward key of the
	// entry before it: a log that no longer holds that entry there lost
	// mappings (a Redis restarted without them)
	mu         sync.Mutex
	lastCursor uint64
	lastKey    string
}

var (
	_ mask.ContextMappings = (*RedisStore)(nil)
	_ Backend              = (*RedisStore)(nil)
	_ Backend              = (*Store)(nil)
)

// Backend is a mapping store: the local file ([Store]) or Redis
// ([RedisStore]).
type Backend interface {
	mask.Mappings
	mask.ContextMappings
	Seed() []byte
	SaveBatch(id string, pseudonyms []string) error
	LoadBatch(id string) ([]string, bool, error)
	// Check verifies that the store is reachable and sealed under this
	// process's key.
	Check() error
	LookupOne(pseudonym string) (original, kind string, ok bool, err error)
	Info() (Info, error)
	// Location names the store for people: a path, or a URL without its
	// password.
	Location() string
	Close() error
}

// Location implements Backend.
func (s *Store) Location() string { return s.path }

// Close implements Backend; the file store holds nothing open between
// calls.
func (s *Store) Close() error { return nil }

// IsRedisURL reports whether a store location names Redis rather than a
// directory.
func IsRedisURL(s string) bool {
	for _, p := range []string{"redis://", "rediss://", "redis-sentinel://", "rediss-sentinel://", "unix://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// RedactURL is a store URL without its passwords, to show. Whatever
// stands between the scheme and the last "@" is user information and is
// replaced as text, before parsing: a password that does not parse as
// one (an unescaped "/" or "?") would otherwise be read as a port or a
// path and shown.
func RedactURL(raw string) string {
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			raw = scheme + "://xxxxx@" + rest[at+1:]
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(a Redis URL that does not parse)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redisClient connects to the Redis a URL names: redis:// and rediss://
// (TLS) for one server, unix:// for a socket, and
// redis-sentinel://host:port,host:port/DB?master=NAME for a primary found
// through Sentinel (whose writes then wait for one replica), or
// rediss-sentinel:// for the same over TLS to the sentinels and the data
// nodes, each certificate checked against the address it is reached at.
func redisClient(raw string) (*redis.Client, int, error) {
	sentinelTLS := strings.HasPrefix(raw, "rediss-sentinel://")
	if !strings.HasPrefix(raw, "redis-sentinel://") && !sentinelTLS {
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("store URL %s: %w", RedactURL(raw), urlError(err))
		}
		limitTimeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
		opt.MaxRetries = 1
		if opt.DialerRetries == 0 { // unless the URL sets dialer_retries
			opt.DialerRetries = dialOnce
		}
		return redis.NewClient(opt), 0, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("store URL %s: does not parse", RedactURL(raw))
	}
	q := u.Query()
	fo := &redis.FailoverOptions{MasterName: q.Get("master"), SentinelPassword: q.Get("sentinel_password")}
	if fo.MasterName == "" {
		return nil, 0, fmt.Errorf("store URL %s: a Sentinel URL names its primary with ?master=NAME", RedactURL(raw))
	}
	for _, h := range strings.Split(u.Host, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, 0, fmt.Errorf("store URL %s: a Sentinel address is host:port", RedactURL(raw))
		}
		fo.SentinelAddrs = append(fo.SentinelAddrs, h)
	}
	if u.User != nil {
		fo.Username = u.User.Username()
		fo.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if fo.DB, err = strconv.Atoi(db); err != nil {
			return nil, 0, fmt.Errorf("store URL %s: the database is a number", RedactURL(raw))
		}
	}
	replicas := 1
	if v := q.Get("replicas"); v != "" {
		if replicas, err = strconv.Atoi(v); err != nil || replicas < 0 {
			return nil, 0, fmt.Errorf("store URL %s: replicas is a number of replicas a write waits for", RedactURL(raw))
		}
	}
	if sentinelTLS {
		// no ServerName: each connection checks the name it dialled, a
		// sentinel's or the primary's that the sentinels named
		fo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	limitTimeouts(&fo.DialTimeout, &fo.ReadTimeout, &fo.WriteTimeout)
	fo.MaxRetries = 1
	fo.DialerRetries = dialOnce
	return redis.NewFailoverClient(fo), replicas, nil
}

// dialOnce is one dial per attempt at a command. go-redis otherwise dials
// five times, 100 ms apart, and retries the command once more the same
// way: a Redis that refuses connections took 0.8 s to be found down, for
// every request, one after another (a replica reads the store for each
// request in turn), where a 503 the client retries is the answer.
const dialOnce = 1

// waitMillis is how long a write waits for its replicas: within the
// call's own bound.
func waitMillis() int64 { return (RedisTimeout * 2 / 3).Milliseconds() }

func limitTimeouts(ds ...*time.Duration) {
	for _, d := range ds {
		*d = RedisTimeout
	}
}

// urlError keeps go-redis's reason but not the URL it may quote.
func urlError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "@") || strings.Contains(msg, "://") {
		return errors.New("does not parse")
	}
	return err
}

// unavailable marks an error reaching Redis as the store being unreachable
// (mask.ErrStoreUnavailable), and keeps a script's own refusals. ctx is
// the caller's: its end is the caller's doing and is returned as it is,
// while the end of the bound on one call (RedisTimeout) is Redis not
// answering.
func (s *RedisStore) unavailable(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	var re redis.Error
	if errors.As(err, &re) && strings.HasPrefix(re.Error(), "STALE") {
		return fmt.Errorf("%w (%s): %w: its key is being rotated, or was rotated (restart with the new key)", mask.ErrStoreUnavailable, s.name, ErrWrongKey)
	}
	if errors.As(err, &re) && strings.HasPrefix(re.Error(), "GONE") {
		// never issue into a store without its meta: the next process to
		// open it would create another, with another seed
		return s.damaged("it is gone from Redis (reset, or Redis lost its data)")
	}
	return fmt.Errorf("%w (%s): %s", mask.ErrStoreUnavailable, s.name, RedisReason(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RedisReason is what went wrong talking to Redis, in words that hold no
// value: the network error's kind, or Redis's own error code (LOADING,
// READONLY, …). The store and the gateway's shared state say it alike.
func RedisReason(err error) string {
	var re redis.Error
	var ce *tls.CertificateVerificationError
	var oe *net.OpError
	switch {
	case isTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &re):
		code, _, _ := strings.Cut(re.Error(), " ")
		return "Redis answered " + code
	case errors.Is(err, redis.ErrClosed):
		return "connection closed"
	case errors.As(err, &ce):
		return "its TLS certificate was not accepted"
	case errors.As(err, &oe):
		return oe.Op + " failed"
	}
	return "connection failed"
}

// redisKeys are the names of a store's keys.
type redisKeys struct{}

func (redisKeys) meta() string { return redisPrefix + "meta" }
func (redisKeys) log() string  { return redisPrefix + "log" }
func (redisKeys) sync() string { return redisPrefix + "sync" }

// origKey is the keyed hash of an original, any family.
func (s keys) origKey(original string) []byte {
	m := hmac.New(sha256.New, s.idx)
	m.Write([]byte("orig\x00"))
	m.Write([]byte(original))
	return m.Sum(nil)
}

// OpenRedis opens the store in the Redis a URL names with key, creating it
// when Redis holds none. A key that does not open it is refused with
// ErrWrongKey: nothing is written under a second key.
func OpenRedis(ctx context.Context, rawURL string, key []byte) (*RedisStore, error) {
	s, err := dialRedis(rawURL, key)
	if err != nil {
		return nil, err
	}
	made, err := s.exists(ctx)
	if err == nil && !made {
		seed := make([]byte, 32)
		rand.Read(seed)
		err = s.create(ctx, seed)
	}
	if err == nil {
		err = s.load(ctx)
	}
	if err != nil {
		s.c.Close()
		return nil, err
	}
	return s, nil
}

func dialRedis(rawURL string, key []byte) (*RedisStore, error) {
	k, err := deriveKeys(key)
	if err != nil {
		return nil, err
	}
	c, replicas, err := redisClient(rawURL)
	if err != nil {
		return nil, err
	}
	return &RedisStore{keys: k, c: c, name: RedactURL(rawURL), replicas: replicas}, nil
}

// exists reports whether Redis holds a store.
func (s *RedisStore) exists(parent context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(parent, RedisTimeout)
	defer cancel()
	n, err := s.c.Exists(ctx, redisKeys{}.meta()).Result()
	return n == 1, s.unavailable(parent, err)
}

// create writes a new, empty store with a fresh pseudonym seed, unless
// another process did it first.
func (s *RedisStore) create(parent context.Context, seed []byte) error {
	gen := make([]byte, 16)
	rand.Read(gen)
	ctx, cancel := context.WithTimeout(parent, RedisTimeout)
	defer cancel()
	_, err := s.c.HSetNX(ctx, redisKeys{}.meta(), "format", strconv.Itoa(redisFormat)).Result()
	if err != nil {
		return s.unavailable(parent, err)
	}
	// the first to set the check sets the rest; a loser reads theirs
	set, err := s.c.HSetNX(ctx, redisKeys{}.meta(), "check", s.seal([]byte(checkPlaintext), metaCheck)).Result()
	if err != nil || !set {
		return s.unavailable(parent, err)
	}
	var wait *redis.Cmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, redisKeys{}.meta(), "seed", s.seal(seed, metaSeed), "gen", hex.EncodeToString(gen))
		wait = s.queueDurable(ctx, p)
		return nil
	})
	if err != nil {
		return s.unavailable(parent, err)
	}
	return s.replicated(wait)
}

// load reads the store's format, verifies the key and reads the seed.
func (s *RedisStore) load(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, RedisTimeout)
	defer cancel()
	var vals []any
	for range 20 { // a creator may be between its two writes
		var err error
		vals, err = s.c.HMGet(ctx, redisKeys{}.meta(), "format", "check", "seed", "gen").Result()
		if err != nil {
			return s.unavailable(parent, err)
		}
		if vals[2] != nil && vals[3] != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	if f, err := strconv.Atoi(str(vals[0])); err != nil {
		return s.damaged("its format is missing")
	} else if f > redisFormat {
		return ErrNewerFormat
	}
	check, err := s.open([]byte(str(vals[1])), metaCheck)
	if err != nil || string(check) != checkPlaintext {
		return fmt.Errorf("%w (%s)", ErrWrongKey, s.name)
	}
	seed, err := s.open([]byte(str(vals[2])), metaSeed)
	if err != nil || len(seed) != 32 || str(vals[3]) == "" {
		return s.damaged("its seed does not open")
	}
	s.seed, s.gen = seed, str(vals[3])
	if s.gen == genRotating {
		// an interrupted rotation: the old key still opens the store, and
		// rotate-key may go on from it
		old, err := s.c.HGet(ctx, redisKeys{}.meta(), "rotating").Result()
		if err != nil {
			return s.unavailable(parent, err)
		}
		s.gen = old
	}
	return nil
}

func (s *RedisStore) damaged(reason string) error {
	return &DamagedError{Path: s.name, Reason: reason}
}

// Seed implements Backend.
func (s *RedisStore) Seed() []byte { return s.seed }

// Location implements Backend.
func (s *RedisStore) Location() string { return s.name }

// Close implements Backend.
func (s *RedisStore) Close() error { return s.c.Close() }

// Check implements Backend: Redis answers and holds this key's store, under
// the key generation this process opened.
func (s *RedisStore) Check() error {
	ctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
	defer cancel()
	vals, err := s.c.HMGet(ctx, redisKeys{}.meta(), "check", "gen").Result()
	if err != nil {
		return s.unavailable(context.Background(), err)
	}
	c, _ := vals[0].(string)
	g, _ := vals[1].(string)
	if check, err := s.open([]byte(c), metaCheck); err != nil || string(check) != checkPlaintext || g != s.gen {
		if g == genRotating {
			return fmt.Errorf("%w (%s): its key is being rotated; if no rotation runs, run 'claude-secure store rotate-key' again", mask.ErrStoreUnavailable, s.name)
		}
		return fmt.Errorf("%w (%s)", ErrWrongKey, s.name)
	}
	return nil
}

// Issue implements mask.Mappings.
func (s *RedisStore) Issue(batch []mask.Mapping, retry func(mask.Mapping) (string, error)) ([]string, error) {
	return s.IssueContext(context.Background(), batch, retry)
}

// IssueContext implements mask.ContextMappings. The whole batch is one
// script run (one round trip); only proposals found taken are proposed
// again. Where Sentinel is used, the answer waits for the write to reach a
// replica (WAIT), so a failover loses no acknowledged mapping.
func (s *RedisStore) IssueContext(ctx context.Context, batch []mask.Mapping, retry func(mask.Mapping) (string, error)) ([]string, error) {
	out := make([]string, len(batch))
	originals := make(map[string]bool, len(batch))
	for _, m := range batch {
		originals[m.Original] = true
	}
	todo := make([]int, 0, len(batch))
	for i := range batch {
		todo = append(todo, i)
	}
	work := make([]mask.Mapping, len(batch))
	copy(work, batch)
	for len(todo) > 0 {
		// a proposal that is another original of the batch is taken
		for _, i := range todo {
			for originals[work[i].Pseudonym] && work[i].Pseudonym != work[i].Original {
				p, err := retry(work[i])
				if err != nil {
					return nil, err
				}
				work[i].Pseudonym = p
			}
		}
		res, err := s.issueRound(ctx, work, todo)
		if err != nil {
			return nil, err
		}
		next := todo[:0]
		for j, i := range todo {
			switch r := res[j]; {
			case r == "+":
				out[i] = work[i].Pseudonym
			case r == "-":
				out[i] = "" // an issued pseudonym is never masked again
			case r == "?":
				p, err := retry(work[i])
				if err != nil {
					return nil, err
				}
				work[i].Pseudonym = p
				next = append(next, i)
			default:
				f := s.fwdKey(work[i].Family, work[i].Original)
				m, err := s.recordAt([]byte(r), f)
				if err != nil {
					return nil, err
				}
				out[i] = m.Pseudonym
			}
		}
		todo = next
	}
	return out, nil
}

// issueRound runs the issuing script for the mappings at idx, and waits
// for replicas where it must.
func (s *RedisStore) issueRound(parent context.Context, work []mask.Mapping, idx []int) ([]string, error) {
	args := make([]any, 0, 2+7*len(idx))
	args = append(args, s.gen, len(idx))
	for _, i := range idx {
		m := work[i]
		f := s.fwdKey(m.Family, m.Original)
		same := "0"
		if m.Pseudonym == m.Original {
			same = "1"
		}
		args = append(args,
			string(f),
			string(s.revKey(m.Pseudonym)),
			string(s.origKey(m.Original)),
			string(s.revKey(m.Original)),
			string(s.origKey(m.Pseudonym)),
			same,
			string(s.seal(encodeRecord(m), f)))
	}
	keys := []string{redisKeys{}.meta()}
	var res, wait *redis.Cmd
	// the script and its WAIT go down one connection, in one pipeline
	// (WAIT counts what its own connection wrote), within one bound
	run := func(script func(ctx context.Context, p redis.Pipeliner) *redis.Cmd) error {
		ctx, cancel := context.WithTimeout(parent, RedisTimeout)
		defer cancel()
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = script(ctx, p)
			wait = s.queueDurable(ctx, p)
			return nil
		})
		return err
	}
	err := run(func(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
		return issueScript.EvalSha(ctx, p, keys, args...)
	})
	if err != nil && redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
		// a primary that has not run it yet (one just promoted: Redis
		// does not replicate its script cache); the first pipeline's WAIT
		// ran too, so this one has a bound of its own
		err = run(func(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
			return issueScript.Eval(ctx, p, keys, args...)
		})
	}
	if err != nil {
		return nil, s.unavailable(parent, err)
	}
	if err := s.replicated(wait); err != nil {
		return nil, err
	}
	vals, err := res.StringSlice()
	if err != nil || len(vals) != len(idx) {
		return nil, s.damaged("the issuing script answered out of form")
	}
	return vals, nil
}

// queueDurable queues on p, after what p already holds, what makes the
// answers to it durable where writes wait for replicas: a write, then a
// WAIT for the replicas, whose answer it returns (nil where writes do not
// wait).
//
// An answer can rest on what another process wrote: the mapping the
// script found already issued, a page of the log. That write may not have
// reached a replica yet (its own WAIT has not returned), and a failover
// would lose it after this answer was given. WAIT waits for the
// replication offset its connection reached with its last command (Redis
// 7.0), or with its last command that Redis replicated (7.2 and later,
// where a script that only read leaves it on an older write). The write
// queued here (INCR of the sync key) puts everything Redis did before it,
// for any client, ahead of it in the replication stream, so the WAIT
// covers what was read under either rule.
func (s *RedisStore) queueDurable(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	if s.replicas == 0 {
		return nil
	}
	p.Incr(ctx, redisKeys{}.sync())
	return p.Do(ctx, "wait", s.replicas, waitMillis())
}

// replicated checks the answer to a WAIT queueDurable queued.
func (s *RedisStore) replicated(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	n, err := wait.Int64()
	if err != nil {
		return s.unavailable(context.Background(), err)
	}
	if n < int64(s.replicas) {
		return fmt.Errorf("%w (%s): %d of %d replicas acknowledged the write in time", mask.ErrStoreUnavailable, s.name, n, s.replicas)
	}
	return nil
}

// recordAt opens a sealed mapping stored under the forward key f.
func (s *RedisStore) recordAt(v, f []byte) (mask.Mapping, error) {
	plain, err := s.open(v, f)
	if err != nil {
		return mask.Mapping{}, s.damaged("a mapping does not open")
	}
	m, err := decodeRecord(plain)
	if err != nil {
		return mask.Mapping{}, s.damaged("a mapping is out of form")
	}
	return m, nil
}

// sincePage is how many mappings one read of the log brings.
const sincePage = 4096

// Since implements mask.Mappings.
func (s *RedisStore) Since(cursor uint64, each func([]mask.Mapping, uint64)) error {
	return s.SinceContext(context.Background(), cursor, each)
}

// SinceContext implements mask.ContextMappings: the log is read from
// cursor a page at a time; with nothing new it is one round trip.
func (s *RedisStore) SinceContext(ctx context.Context, cursor uint64, each func([]mask.Mapping, uint64)) error {
	for {
		s.mu.Lock()
		expect := ""
		if cursor > 0 && cursor == s.lastCursor {
			expect = s.lastKey
		}
		s.mu.Unlock()
		vals, err := s.logPage(ctx, cursor, expect)
		if err != nil {
			return err
		}
		if len(vals) == 0 {
			return nil
		}
		batch := make([]mask.Mapping, 0, len(vals))
		for _, v := range vals {
			if len(v) < sha256.Size {
				return s.damaged("a log entry is out of form")
			}
			m, err := s.recordAt([]byte(v[sha256.Size:]), []byte(v[:sha256.Size]))
			if err != nil {
				return err
			}
			batch = append(batch, m)
		}
		cursor += uint64(len(vals))
		s.mu.Lock()
		s.lastCursor, s.lastKey = cursor, vals[len(vals)-1][:sha256.Size]
		s.mu.Unlock()
		each(batch, cursor)
		if len(vals) < sincePage {
			return nil
		}
	}
}

// sameGeneration checks that the store is still the one this process
// opened (gen and rotating, from meta): a store that was reset, or whose
// key was rotated, has another log, and reading on from this process's
// cursor would miss its mappings. While a rotation of this generation
// runs, reading goes on (the rotation reads the log so).
func (s *RedisStore) sameGeneration(vals []any) error {
	gen, _ := vals[0].(string)
	rotating, _ := vals[1].(string)
	if gen == s.gen || gen == genRotating && rotating == s.gen {
		return nil
	}
	return fmt.Errorf("%w (%s): %w: the store was reset or its key rotated since this process opened it; restart it", mask.ErrStoreUnavailable, s.name, ErrWrongKey)
}

// logPage reads a page of the log from cursor, after checking that the
// store is still the generation this process opened and, when expect is
// set, that the entry before cursor is still the one this process read
// last. Where writes wait for replicas, a page that holds anything waits
// for them too (see queueDurable), on the connection that read it: no
// process learns a mapping that a failover could still lose.
func (s *RedisStore) logPage(parent context.Context, cursor uint64, expect string) ([]string, error) {
	ctx, cancel := context.WithTimeout(parent, RedisTimeout)
	defer cancel()
	var c redis.Cmdable = s.c
	if s.replicas > 0 {
		conn := s.c.Conn()
		defer conn.Close()
		c = conn
	}
	var gen *redis.SliceCmd
	var page *redis.StringSliceCmd
	var before *redis.StringCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		gen = p.HMGet(ctx, redisKeys{}.meta(), "gen", "rotating")
		page = p.LRange(ctx, redisKeys{}.log(), int64(cursor), int64(cursor)+sincePage-1)
		if expect != "" {
			before = p.LIndex(ctx, redisKeys{}.log(), int64(cursor)-1)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.unavailable(parent, err)
	}
	if err := s.sameGeneration(gen.Val()); err != nil {
		return nil, err
	}
	if before != nil && !strings.HasPrefix(before.Val(), expect) {
		return nil, fmt.Errorf("%w (%s): the store's log lost mappings this process read (Redis restarted without them?); restart it, and keep Redis's append-only file (appendonly yes, appendfsync always)", mask.ErrStoreUnavailable, s.name)
	}
	vals := page.Val()
	if len(vals) == 0 || s.replicas == 0 {
		return vals, nil
	}
	var wait *redis.Cmd
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		wait = s.queueDurable(ctx, p)
		return nil
	}); err != nil {
		return nil, s.unavailable(parent, err)
	}
	if err := s.replicated(wait); err != nil {
		return nil, err
	}
	return vals, nil
}

// LookupOne implements Backend.
func (s *RedisStore) LookupOne(pseudonym string) (original, kind string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
	defer cancel()
	r, err := s.c.Get(ctx, redisPrefix+"r:"+string(s.revKey(pseudonym))).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, s.unavailable(context.Background(), err)
	}
	if len(r) != 2*sha256.Size {
		return "", "", false, s.damaged("a reverse entry is out of form")
	}
	f := r[sha256.Size:]
	v, err := s.c.Get(ctx, redisPrefix+"f:"+f).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return "", "", false, s.damaged("a reverse entry has no mapping")
		}
		return "", "", false, s.unavailable(context.Background(), err)
	}
	m, err := s.recordAt([]byte(v), []byte(f))
	if err != nil {
		return "", "", false, err
	}
	return m.Original, m.Kind, true, nil
}

// SaveBatch implements Backend.
func (s *RedisStore) SaveBatch(id string, pseudonyms []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
	defer cancel()
	k := s.batchKey(id)
	var wait *redis.Cmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, redisPrefix+"b:"+string(k), s.seal(encodeBatch(id, pseudonyms), k), 0)
		wait = s.queueDurable(ctx, p)
		return nil
	})
	if err != nil {
		return s.unavailable(context.Background(), err)
	}
	return s.replicated(wait)
}

// LoadBatch implements Backend.
func (s *RedisStore) LoadBatch(id string) ([]string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
	defer cancel()
	k := s.batchKey(id)
	v, err := s.c.Get(ctx, redisPrefix+"b:"+string(k)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.unavailable(context.Background(), err)
	}
	plain, err := s.open([]byte(v), k)
	if err != nil {
		return nil, false, s.damaged("a batch's restore set does not open")
	}
	out, err := decodeBatch(plain)
	if err != nil {
		return nil, false, fmt.Errorf("failed to read a batch's restore set: %w", err)
	}
	return out, true, nil
}

// Info implements Backend. It opens every mapping, so it also verifies
// them; Size is the bytes the log holds.
func (s *RedisStore) Info() (Info, error) {
	info := Info{Path: s.name, Format: redisFormat, PerKind: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*RedisTimeout)
	defer cancel()
	for cursor := int64(0); ; cursor += sincePage {
		vals, err := s.c.LRange(ctx, redisKeys{}.log(), cursor, cursor+sincePage-1).Result()
		if err != nil {
			return info, s.unavailable(context.Background(), err)
		}
		for _, v := range vals {
			info.Size += int64(len(v))
			if len(v) < sha256.Size {
				return info, s.damaged("a log entry is out of form")
			}
			m, err := s.recordAt([]byte(v[sha256.Size:]), []byte(v[:sha256.Size]))
			if err != nil {
				return info, err
			}
			info.PerKind[m.Kind]++
			info.Mappings++
		}
		if len(vals) < sincePage {
			return info, nil
		}
	}
}

// ResetRedis deletes every key of the store in the Redis a URL names (and
// nothing else there): its meta first, which stops every replica's
// issuing, then the rest. It needs no key.
func ResetRedis(parent context.Context, rawURL string) (deleted int, err error) {
	c, _, err := redisClient(rawURL)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s := &RedisStore{c: c, name: RedactURL(rawURL)}
	ctx, cancel := context.WithTimeout(parent, 10*RedisTimeout)
	defer cancel()
	// meta first: from then on every replica's issuing is refused, so
	// nothing is written behind the sweep
	if n, err := c.Unlink(ctx, redisKeys{}.meta()).Result(); err != nil {
		return 0, s.unavailable(parent, err)
	} else {
		deleted += int(n)
	}
	iter := c.Scan(ctx, 0, redisPrefix+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.Unlink(ctx, batch...).Err()
		deleted += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return deleted, s.unavailable(parent, err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, s.unavailable(parent, err)
	}
	return deleted, s.unavailable(parent, flush())
}
