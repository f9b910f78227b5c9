package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/redis/go-redis/v9"
)

// StoreEnv names the environment variable that sets the store's location
// (a Redis URL); the --store flag wins over it.
const StoreEnv = "CLAUDE_SECURE_STORE"

// OpenBackend opens the store the Opener names: the Redis store at URL if
// it is set, else the file store in Dir.
func (o Opener) OpenBackend(ctx context.Context) (Backend, Key, error) {
	if o.URL == "" {
		s, key, err := o.Open()
		if err != nil {
			return nil, Key{}, err
		}
		return s, key, nil
	}
	return o.openRedis(ctx)
}

// openRedis finds the key for a Redis store and opens it. A Redis without
// a store gets a new key (in the keyring, or a key file in Dir) and the
// store sealed under it; a Redis that holds a store for which no key is
// found is refused: the key is with the store's other users, and a new
// key would not open it.
func (o Opener) openRedis(ctx context.Context) (Backend, Key, error) {
	for _, p := range []struct {
		path string
		dir  bool
	}{{o.Dir, true}, {o.keyFile(), false}} {
		if err := checkPrivate(p.path, p.dir); err != nil {
			return nil, Key{}, err
		}
	}
	key, found, kerr, err := o.findKey()
	if err != nil {
		return nil, Key{}, err
	}
	if !found {
		probe, err := dialRedis(o.URL, NewKey())
		if err != nil {
			return nil, Key{}, err
		}
		made, err := probe.exists(ctx)
		probe.Close()
		if err != nil {
			return nil, Key{}, err
		}
		if made {
			return nil, Key{}, fmt.Errorf("%w for %s (%v)", ErrKeyNotFound, RedactURL(o.URL), kerr)
		}
		b := NewKey()
		key = Key{Bytes: b, Source: SourceKeyring}
		if !errors.Is(kerr, ErrKeyNotFound) || o.Keyring.Set(Service, o.account(), EncodeKey(b)) != nil {
			if err := writeKeyFile(o.keyFile(), b); err != nil {
				return nil, Key{}, err
			}
			key = Key{Bytes: b, Source: SourceFile, Warning: o.fileWarning()}
		}
	}
	s, key, err := openPending(o, key, func(k []byte) (*RedisStore, error) { return OpenRedis(ctx, o.URL, k) })
	if err != nil {
		return nil, Key{}, err
	}
	return s, key, nil
}

// RedisHolds reports whether the Redis a URL names holds a store, without
// creating one or needing its key.
func RedisHolds(ctx context.Context, rawURL string) (bool, error) {
	probe, err := dialRedis(rawURL, NewKey())
	if err != nil {
		return false, err
	}
	defer probe.Close()
	return probe.exists(ctx)
}

// NewRedisClient connects to the Redis a store URL names, as the Redis
// store does (the same URL forms, timeouts and Sentinel handling), for
// state that replicas share beside the store: a gateway's tokens and rate
// limits. The caller closes it.
func NewRedisClient(rawURL string) (redis.UniversalClient, error) {
	c, _, err := redisClient(rawURL)
	return c, err
}

// WriteReplicas is how many replicas a write to the Redis a URL names waits
// for before it is acknowledged (WAIT): 1 through Sentinel unless the URL's
// replicas says otherwise, 0 for one server.
func WriteReplicas(rawURL string) int {
	c, n, err := redisClient(rawURL)
	if err != nil {
		return 0
	}
	c.Close()
	return n
}
