package claudesecure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/claude-secure/claude-secure/internal/userstate"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
)

// Open returns a Transport over the store the claude-secure command uses,
// found the way it finds it: the state directory is CLAUDE_SECURE_HOME
// (else the OS convention), the store is the encrypted file there or the
// Redis store CLAUDE_SECURE_STORE names, its key comes from
// CLAUDE_SECURE_KEY, the OS keyring or a key file beside the store, and
// config.toml there adds its rules and allow_paths. A nil base is as for
// NewTransport. Close the Transport to close the store.
func Open(ctx context.Context, base http.RoundTripper, opts ...Option) (*Transport, error) {
	t, err := newTransport(base, opts)
	if err != nil {
		return nil, err
	}
	if t.set.engine != nil {
		return nil, errors.New("claudesecure: Open builds its own engine; WithEngine is for NewTransport")
	}
	getenv := os.Getenv
	dir, err := userstate.Dir(getenv)
	if err != nil {
		return nil, fmt.Errorf("claudesecure: %w (set %s)", err, userstate.HomeEnv)
	}
	storeURL, err := userstate.StoreURL("", getenv)
	if err != nil {
		return nil, fmt.Errorf("claudesecure: %s: %w", store.StoreEnv, err)
	}
	cfg, err := userstate.LoadConfig(filepath.Join(dir, userstate.ConfigFile), false)
	if err != nil {
		return nil, fmt.Errorf("claudesecure: %w", err)
	}
	o := store.Opener{Dir: dir, URL: storeURL, Keyring: store.SystemKeyring{Timeout: 5 * time.Second}, Getenv: getenv}
	s, key, err := o.OpenBackend(ctx)
	if err != nil {
		return nil, fmt.Errorf("claudesecure: %w", err)
	}
	e, err := mask.New(s.Seed(), s, cfg.MaskOptions())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("claudesecure: %w", err)
	}
	if key.Warning != "" && t.set.audit != nil {
		t.set.audit.Warn(key.Warning)
	}
	t.set.engine = e
	t.set.allowPaths = append(t.set.allowPaths, cfg.AllowPaths...)
	t.set.batches = s
	t.close = s.Close
	return t, nil
}
