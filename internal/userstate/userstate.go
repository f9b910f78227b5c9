// Package userstate finds what the claude-secure command and the
// claudesecure package open alike, so that both mask the same way: the
// state directory (CLAUDE_SECURE_HOME, else the OS convention), the shared
// store's location (CLAUDE_SECURE_STORE, or the command's --store), and
// the configuration file (config.toml in the state directory). Opening the
// store and finding its key is [store.Opener]'s.
package userstate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/claude-secure/claude-secure/mask/store"
)

// HomeEnv names the environment variable that holds the state directory.
const HomeEnv = "CLAUDE_SECURE_HOME"

// ConfigFile is the name of the configuration file in the state directory.
const ConfigFile = "config.toml"

// Dir is CLAUDE_SECURE_HOME, or the OS convention for per-user
// application state. Either way the answer is the directory to use (it
// may not exist yet); an error means there is none to be found, and
// setting CLAUDE_SECURE_HOME is the fix.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv(HomeEnv); d != "" {
		return d, nil
	}
	var base string
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		base = getenv("XDG_CONFIG_HOME")
		if base == "" {
			home := getenv("HOME")
			if home == "" {
				return "", errors.New("cannot find the home directory")
			}
			base = filepath.Join(home, ".config")
		}
	default:
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("cannot find the configuration directory: %w", err)
		}
		base = d
	}
	return filepath.Join(base, "claude-secure"), nil
}

// ErrStoreURL refuses a store location that is not a Redis URL.
var ErrStoreURL = errors.New("a shared store is named by a redis://, rediss://, redis-sentinel://, rediss-sentinel:// or unix:// URL")

// StoreURL is the Redis URL of a shared store (flag, else
// CLAUDE_SECURE_STORE), or "" for the file store in the state directory.
func StoreURL(flag string, getenv func(string) string) (string, error) {
	u := flag
	if u == "" {
		u = getenv(store.StoreEnv)
	}
	if u != "" && !store.IsRedisURL(u) {
		return "", ErrStoreURL
	}
	return u, nil
}
