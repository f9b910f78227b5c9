package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/claude-secure/claude-secure/internal/userstate"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
)

// env is what the commands get from the outside world; tests fill it in.
type env struct {
	In      io.Reader
	Out     io.Writer
	Err     io.Writer
	Getenv  func(string) string
	Keyring store.Keyring
	// StdinIsTerminal tells reset whether it may ask for confirmation.
	StdinIsTerminal bool
}

func realEnv() *env {
	fi, err := os.Stdin.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &env{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		Getenv:          os.Getenv,
		Keyring:         store.SystemKeyring{Timeout: 5 * time.Second},
		StdinIsTerminal: tty,
	}
}

// factory builds what commands share: the state directory, the config, the
// store and the engine.
type factory struct {
	*env
	configPath string
	storeURL   string // --store
}

// storeLocation is the Redis URL of a shared store (--store, else
// CLAUDE_SECURE_STORE), or "" for the file store.
func (f *factory) storeLocation() (string, error) {
	u, err := userstate.StoreURL(f.storeURL, f.Getenv)
	if errors.Is(err, userstate.ErrStoreURL) {
		return "", usagef("--store takes a redis://, rediss://, redis-sentinel://, rediss-sentinel:// or unix:// URL (see claude-secure --help)")
	}
	return u, err
}

// stateDir is CLAUDE_SECURE_HOME, or the OS convention for per-user
// application state.
func (f *factory) stateDir() (string, error) {
	d, err := userstate.Dir(f.Getenv)
	if err != nil {
		return "", withHint(err, "set CLAUDE_SECURE_HOME")
	}
	return d, nil
}

func (f *factory) opener() (store.Opener, error) {
	dir, err := f.stateDir()
	if err != nil {
		return store.Opener{}, err
	}
	url, err := f.storeLocation()
	if err != nil {
		return store.Opener{}, err
	}
	return store.Opener{Dir: dir, URL: url, Keyring: f.Keyring, Getenv: f.Getenv}, nil
}

// openStore opens the store, printing the key-file warning if there is one.
func (f *factory) openStore() (store.Backend, store.Key, store.Opener, error) {
	o, err := f.opener()
	if err != nil {
		return nil, store.Key{}, o, err
	}
	s, key, err := o.OpenBackend(context.Background())
	if err != nil {
		return nil, store.Key{}, o, storeError(err)
	}
	if key.Warning != "" {
		fmt.Fprintf(f.Err, "claude-secure: warning: %s\n", key.Warning)
	}
	return s, key, o, nil
}

func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrDamaged):
		return withHint(err, "restore the state directory from a backup, or start over with 'claude-secure store reset'")
	case errors.Is(err, store.ErrWrongKey):
		return withHint(err, "the key in CLAUDE_SECURE_KEY or the keyring belongs to another store; every replica of a shared store needs the same key")
	case errors.Is(err, store.ErrTargetNotEmpty):
		return withHint(err, "a migration copies into an empty place only; 'claude-secure store reset' empties it")
	case errors.Is(err, mask.ErrStoreUnavailable):
		return withHint(err, "check that Redis is running and that the --store URL or CLAUDE_SECURE_STORE names it")
	case errors.Is(err, store.ErrKeyNotFound):
		return withHint(err, "set CLAUDE_SECURE_KEY to the store's key, or start over with 'claude-secure store reset'")
	case errors.Is(err, store.ErrBadKey):
		return withHint(err, "generate one with: head -c 32 /dev/urandom | base64")
	}
	return err
}

// session is what masking needs, opened together.
type session struct {
	// allowPaths are the configuration's extra API paths for the proxy.
	allowPaths []string
	store      store.Backend
	key        store.Key // where the store's key came from
	engine     *mask.Engine
}

// session reads the config, opens the store and builds an engine over
// both.
func (f *factory) session() (*session, error) {
	cfg, err := f.configFile()
	if err != nil {
		return nil, err
	}
	s, key, _, err := f.openStore()
	if err != nil {
		return nil, err
	}
	e, err := mask.New(s.Seed(), s, cfg.MaskOptions())
	if err != nil {
		return nil, err
	}
	return &session{allowPaths: cfg.AllowPaths, store: s, key: key, engine: e}, nil
}

// input opens FILE, or standard input when there is no argument or it is "-".
func (f *factory) input(args []string) (io.Reader, func(), error) {
	if len(args) == 0 || args[0] == "-" {
		return f.In, func() {}, nil
	}
	fh, err := os.Open(args[0])
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read input: %w", err)
	}
	return fh, func() { fh.Close() }, nil
}
