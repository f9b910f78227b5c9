package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-secure/claude-secure/internal/atomicfile"
	"github.com/zalando/go-keyring"
	bolt "go.etcd.io/bbolt"
)

// Service is the OS keyring service name the store key lives under.
const Service = "claude-secure"

// KeyEnv is the environment variable that supplies the key directly.
const KeyEnv = "CLAUDE_SECURE_KEY"

// KeyFileName is the fallback key file beside the store.
const KeyFileName = "store.key"

// Where a key came from.
const (
	SourceEnv     = "env"
	SourceKeyring = "keyring"
	SourceFile    = "file"
)

var (
	// ErrKeyNotFound means no key exists for a store that does.
	ErrKeyNotFound = errors.New("store key not found")
	// ErrKeyringUnavailable means the OS keyring could not be reached.
	ErrKeyringUnavailable = errors.New("OS keyring is not available")
	// ErrBadKey means a supplied key is not base64 of 32 bytes.
	ErrBadKey = errors.New("key must be base64 of 32 bytes")
)

// Keyring is the part of the OS keyring the store needs.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// SystemKeyring is the OS keyring through go-keyring, with a timeout: a
// D-Bus Secret Service that never answers must not hang the tool. Errors
// map to ErrKeyNotFound and ErrKeyringUnavailable.
type SystemKeyring struct {
	Timeout time.Duration
}

func (k SystemKeyring) call(fn func() (string, error)) (string, error) {
	type res struct {
		v   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := fn()
		ch <- res{v, err}
	}()
	t := k.Timeout
	if t == 0 {
		t = 5 * time.Second
	}
	select {
	case r := <-ch:
		switch {
		case r.err == nil:
			return r.v, nil
		case errors.Is(r.err, keyring.ErrNotFound):
			return "", ErrKeyNotFound
		default:
			return "", fmt.Errorf("%w: %v", ErrKeyringUnavailable, r.err)
		}
	case <-time.After(t):
		return "", fmt.Errorf("%w: no answer within %v", ErrKeyringUnavailable, t)
	}
}

// Get implements Keyring.
func (k SystemKeyring) Get(service, user string) (string, error) {
	return k.call(func() (string, error) { return keyring.Get(service, user) })
}

// Set implements Keyring.
func (k SystemKeyring) Set(service, user, secret string) error {
	_, err := k.call(func() (string, error) { return "", keyring.Set(service, user, secret) })
	return err
}

// Delete implements Keyring.
func (k SystemKeyring) Delete(service, user string) error {
	_, err := k.call(func() (string, error) { return "", keyring.Delete(service, user) })
	if errors.Is(err, ErrKeyNotFound) {
		return nil
	}
	return err
}

// Key is a resolved store key.
type Key struct {
	Bytes  []byte
	Source string // SourceEnv, SourceKeyring or SourceFile
	// Warning is set when the key had to fall back to a file.
	Warning string
}

// Opener finds the key for a state directory and opens its store.
type Opener struct {
	Dir string
	// URL, when set, names a Redis store (see OpenBackend); Dir then holds
	// only a key file, where no keyring is usable.
	URL     string
	Keyring Keyring
	Getenv  func(string) string
}

func (o Opener) account() string {
	if o.URL != "" {
		return "store-key:" + RedactURL(o.URL)
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		abs = o.Dir
	}
	return "store-key:" + abs
}

func (o Opener) keyFile() string { return filepath.Join(o.Dir, KeyFileName) }

// PermissionError refuses a state directory, key file or store file that
// is not private to the user.
type PermissionError struct {
	Path, Problem, Fix string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("%s %s; refusing to use it (fix: %s)", e.Path, e.Problem, e.Fix)
}

// DecodeKey parses a base64 key of 32 bytes.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, ErrBadKey
}

// EncodeKey is the inverse of DecodeKey.
func EncodeKey(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// NewKey returns 32 random bytes.
func NewKey() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ResolveKey finds the key, in order: CLAUDE_SECURE_KEY, the OS keyring,
// and a key file beside the store. Where there is none, the key and the
// store are created together (see createKey).
func (o Opener) ResolveKey() (Key, error) {
	key, found, _, err := o.findKey()
	if err != nil || found {
		return key, err
	}
	return o.createKey()
}

// findKey looks for an existing key; kerr is what the keyring said when
// it had none.
func (o Opener) findKey() (key Key, found bool, kerr, err error) {
	if v := o.Getenv(KeyEnv); v != "" {
		b, err := DecodeKey(v)
		if err != nil {
			return Key{}, false, nil, fmt.Errorf("%s: %w", KeyEnv, err)
		}
		return Key{Bytes: b, Source: SourceEnv}, true, nil, nil
	}
	v, kerr := o.Keyring.Get(Service, o.account())
	if kerr == nil {
		b, err := DecodeKey(v)
		if err != nil {
			return Key{}, false, nil, fmt.Errorf("keyring entry: %w", err)
		}
		return Key{Bytes: b, Source: SourceKeyring}, true, nil, nil
	}
	if !errors.Is(kerr, ErrKeyNotFound) && !errors.Is(kerr, ErrKeyringUnavailable) {
		return Key{}, false, nil, kerr
	}
	if b, err := o.readKeyFile(o.keyFile()); err == nil {
		return Key{Bytes: b, Source: SourceFile, Warning: o.fileWarning()}, true, nil, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Key{}, false, nil, err
	}
	return Key{}, false, kerr, nil
}

// createKey makes a new key, in the keyring (or, only when no keyring is
// usable, in a key file, mode 0600, with a warning), and the store sealed
// under it, as one step under the store file's lock: processes that start
// at once on a new directory wait for the first, then find its key. A
// store that exists without a key is not given a new one: its key is
// lost, and a new key would not open it.
func (o Opener) createKey() (Key, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("failed to create state directory: %w", err)
	}
	s := &Store{path: Path(o.Dir)}
	db, err := s.db(context.Background(), false)
	if err != nil {
		return Key{}, err
	}
	defer db.Close()
	key, found, kerr, err := o.findKey()
	if err != nil || found {
		return key, err // another process created it meanwhile
	}
	made := false
	if err := s.guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			made = tx.Bucket(bucketMeta) != nil
			return nil
		})
	}); err != nil {
		return Key{}, s.damaged(err)
	}
	if made {
		return Key{}, fmt.Errorf("%w for %s (%v)", ErrKeyNotFound, Path(o.Dir), kerr)
	}
	b := NewKey()
	key = Key{Bytes: b, Source: SourceKeyring}
	if !errors.Is(kerr, ErrKeyNotFound) || o.Keyring.Set(Service, o.account(), EncodeKey(b)) != nil {
		if err := writeKeyFile(o.keyFile(), b); err != nil {
			return Key{}, err
		}
		key = Key{Bytes: b, Source: SourceFile, Warning: o.fileWarning()}
	}
	k, err := deriveKeys(b)
	if err != nil {
		return Key{}, err
	}
	s.keys = k
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return Key{}, err
	}
	if err := db.Update(func(tx *bolt.Tx) error { return s.initTx(tx, seed) }); err != nil {
		return Key{}, fmt.Errorf("failed to create the store: %w", err)
	}
	return key, nil
}

func (o Opener) fileWarning() string {
	return "no usable OS keyring; the store key is in " + o.keyFile() + " (mode 0600)"
}

func (o Opener) readKeyFile(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	b, err := DecodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", p, err)
	}
	return b, nil
}

// writeKeyFile writes a key file atomically: temp file, fsync, rename.
func writeKeyFile(p string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("failed to create state directory: %w", err)
	}
	if err := atomicfile.Write(p, []byte(EncodeKey(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write key file: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	_ = d.Sync() // not supported everywhere; the rename is what matters
	return nil
}

// Open resolves the key and opens (or creates) the store. When the store
// does not open with the key because a key rotation was interrupted after
// the store was rewritten, the pending key finishes the rotation.
func (o Opener) Open() (*Store, Key, error) {
	for _, p := range []struct {
		path string
		dir  bool
	}{{o.Dir, true}, {o.keyFile(), false}, {o.keyFile() + ".next", false}, {Path(o.Dir), false}} {
		if err := checkPrivate(p.path, p.dir); err != nil {
			return nil, Key{}, err
		}
	}
	key, err := o.ResolveKey()
	if err != nil {
		return nil, Key{}, err
	}
	return openPending(o, key, func(k []byte) (*Store, error) { return Open(o.Dir, k) })
}

// openPending opens a store with key; when the key does not open it
// because a key rotation stopped after the store was re-sealed, it opens
// it with the pending key and makes that key the current one.
func openPending[S Backend](o Opener, key Key, open func([]byte) (S, error)) (S, Key, error) {
	var none S
	s, err := open(key.Bytes)
	if errors.Is(err, ErrWrongKey) && key.Source != SourceEnv {
		if next, ok := o.pendingKey(key.Source); ok {
			if s2, err2 := open(next); err2 == nil {
				if err := o.commitKey(key.Source, next); err != nil {
					s2.Close()
					return none, Key{}, err
				}
				key.Bytes = next
				return s2, key, nil
			}
		}
	}
	if err != nil {
		return none, Key{}, err
	}
	return s, key, nil
}

func (o Opener) pendingKey(source string) ([]byte, bool) {
	switch source {
	case SourceKeyring:
		v, err := o.Keyring.Get(Service, o.account()+":next")
		if err != nil {
			return nil, false
		}
		b, err := DecodeKey(v)
		return b, err == nil
	case SourceFile:
		b, err := o.readKeyFile(o.keyFile() + ".next")
		return b, err == nil
	}
	return nil, false
}

// stagePendingKey records the new key before the store is re-sealed.
func (o Opener) stagePendingKey(source string, key []byte) error {
	switch source {
	case SourceKeyring:
		return o.Keyring.Set(Service, o.account()+":next", EncodeKey(key))
	case SourceFile:
		return writeKeyFile(o.keyFile()+".next", key)
	}
	return nil
}

// commitKey makes key the current one and drops the pending copy.
func (o Opener) commitKey(source string, key []byte) error {
	switch source {
	case SourceKeyring:
		if err := o.Keyring.Set(Service, o.account(), EncodeKey(key)); err != nil {
			return err
		}
		return o.Keyring.Delete(Service, o.account()+":next")
	case SourceFile:
		if err := os.Rename(o.keyFile()+".next", o.keyFile()); err != nil {
			return fmt.Errorf("failed to install the new key file: %w", err)
		}
		return syncDir(o.Dir)
	}
	return nil
}

// Rotate re-seals the store under a new key and installs the key where the
// old one was. With CLAUDE_SECURE_KEY the new key cannot be installed for
// the user: announce is called with it before the store changes, so it is
// never lost.
func (o Opener) Rotate(b Backend, key Key, announce func(newKey string) error) (Backend, error) {
	next := NewKey()
	if key.Source == SourceEnv {
		if err := announce(EncodeKey(next)); err != nil {
			return nil, err
		}
	} else if err := o.stagePendingKey(key.Source, next); err != nil {
		return nil, fmt.Errorf("failed to stage the new key: %w", err)
	}
	var ns Backend
	var err error
	switch s := b.(type) {
	case *Store:
		ns, err = s.RotateKey(next)
	case *RedisStore:
		ns, err = s.RotateKey(context.Background(), next)
	default:
		err = fmt.Errorf("cannot rotate the key of a %T", b)
	}
	if err != nil {
		return nil, err
	}
	if key.Source != SourceEnv {
		if err := o.commitKey(key.Source, next); err != nil {
			return nil, err
		}
	}
	return ns, nil
}
