package store

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// ErrTargetNotEmpty refuses a migration into a place that holds a store.
var ErrTargetNotEmpty = errors.New("the target already holds a store")

// Batches calls each with every message batch's restore set.
func (s *Store) Batches(each func(id string, pseudonyms []string) error) error {
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBatch)
		if b == nil {
			return ErrDamaged
		}
		return b.ForEach(func(k, v []byte) error {
			plain, err := s.open(v, k)
			if err != nil {
				return err
			}
			id, _, err := batchID(plain)
			if err != nil {
				return err
			}
			ps, err := decodeBatch(plain)
			if err != nil {
				return err
			}
			return each(id, ps)
		})
	})
}

// migratable is a store a migration reads from.
type migratable interface {
	Backend
	Batches(each func(id string, pseudonyms []string) error) error
}

// Migrate copies the store from, opened with key, to the place o names (a
// Redis URL, or a directory), which must hold no store: the same seed,
// every mapping in the order it was issued and every batch's restore set,
// so that no pseudonym changes. The key is put where o will find it (the
// keyring entry or key file for that place; with CLAUDE_SECURE_KEY it
// stays there). It returns the new store and the mappings copied.
func (o Opener) Migrate(ctx context.Context, from Backend, key Key) (Backend, int, error) {
	src, ok := from.(migratable)
	if !ok {
		return nil, 0, fmt.Errorf("cannot migrate from a %T", from)
	}
	to, err := o.createWithSeed(ctx, key.Bytes, from.Seed())
	if err != nil {
		return nil, 0, err
	}
	n := 0
	var cerr error
	err = from.Since(0, func(batch []mask.Mapping, _ uint64) {
		if cerr != nil {
			return
		}
		var out []string
		out, cerr = to.Issue(batch, func(mask.Mapping) (string, error) {
			return "", errors.New("the target already holds one of the store's pseudonyms")
		})
		for i := range out {
			if cerr == nil && out[i] != batch[i].Pseudonym {
				cerr = errors.New("the target would not keep a pseudonym")
			}
		}
		if cerr == nil {
			n += len(batch)
		}
	})
	if err == nil {
		err = cerr
	}
	if err == nil {
		err = src.Batches(func(id string, ps []string) error { return to.SaveBatch(id, ps) })
	}
	if err == nil && key.Source != SourceEnv {
		err = o.placeKey(key)
	}
	if err != nil {
		to.Close()
		return nil, n, fmt.Errorf("migration stopped after %d mappings (the source is unchanged; reset the target before trying again): %w", n, err)
	}
	return to, n, nil
}

// createWithSeed creates an empty store where o names, with a given seed.
func (o Opener) createWithSeed(ctx context.Context, key, seed []byte) (Backend, error) {
	if o.URL != "" {
		s, err := dialRedis(o.URL, key)
		if err != nil {
			return nil, err
		}
		made, err := s.holdsAny(ctx)
		if err == nil && made {
			err = fmt.Errorf("%w: %s", ErrTargetNotEmpty, s.name)
		}
		if err == nil {
			err = s.create(ctx, seed)
		}
		if err == nil {
			err = s.load(ctx)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if exists(Path(o.Dir)) {
		return nil, fmt.Errorf("%w: %s", ErrTargetNotEmpty, Path(o.Dir))
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create state directory: %w", err)
	}
	k, err := deriveKeys(key)
	if err != nil {
		return nil, err
	}
	s := &Store{path: Path(o.Dir), keys: k}
	if err := s.initWith(seed); err != nil {
		return nil, fmt.Errorf("failed to create the store: %w", err)
	}
	return openFile(Path(o.Dir), key, false)
}

// placeKey puts key where o looks for it: the keyring entry for o's store,
// or o's key file when the key was in a file.
func (o Opener) placeKey(key Key) error {
	switch key.Source {
	case SourceKeyring:
		if err := o.Keyring.Set(Service, o.account(), EncodeKey(key.Bytes)); err != nil {
			return fmt.Errorf("failed to put the key in the keyring: %w", err)
		}
	case SourceFile:
		if exists(o.keyFile()) {
			b, err := o.readKeyFile(o.keyFile())
			if err != nil {
				return err
			}
			if string(b) != string(key.Bytes) {
				return fmt.Errorf("%s holds another key", o.keyFile())
			}
			return nil
		}
		return writeKeyFile(o.keyFile(), key.Bytes)
	}
	return nil
}

// holdsAny reports whether Redis holds any key of a store, even one left
// behind by a reset that stopped.
func (s *RedisStore) holdsAny(parent context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(parent, 10*RedisTimeout)
	defer cancel()
	var cursor uint64
	for {
		names, next, err := s.c.Scan(ctx, cursor, redisPrefix+"*", 1000).Result()
		if err != nil {
			return false, s.unavailable(parent, err)
		}
		if len(names) > 0 {
			return true, nil
		}
		if cursor = next; cursor == 0 {
			return false, nil
		}
	}
}
