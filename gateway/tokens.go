package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/claude-secure/claude-secure/internal/atomicfile"
)

// Role says what a token may do.
type Role string

const (
	// RoleUser may call the API.
	RoleUser Role = "user"
	// RoleViewer may read metrics and stats.
	RoleViewer Role = "viewer"
	// RoleAdmin may do both.
	RoleAdmin Role = "admin"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleUser, RoleViewer, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use user, viewer or admin", s)
}

func (r Role) mayCall() bool  { return r == RoleUser || r == RoleAdmin }
func (r Role) mayWatch() bool { return r == RoleViewer || r == RoleAdmin }

// TokenPrefix starts every gateway token, so it can be told from an
// Anthropic API key and found by secret scanners.
const TokenPrefix = "cst_"

// Token is one stored token: its hash, never the token itself.
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// TokenStore keeps the gateway's tokens: the file in the state directory
// ([Tokens]) or the Redis that replicas share ([RedisTokens]). A change
// made through any TokenStore on the same file or Redis holds for every
// gateway reading it from its next request on.
type TokenStore interface {
	// Create makes a new token and returns it; only its hash is kept. A
	// name is unique.
	Create(name string, role Role) (string, error)
	// Revoke deletes the named token.
	Revoke(name string) error
	// List returns the tokens, oldest first.
	List() ([]Token, error)
	// Check returns the token that secret is, if it is one. An error means
	// the tokens could not be read: the caller refuses the request.
	Check(secret string) (Token, bool, error)
	// Count reports how many tokens there are.
	Count() (int, error)
}

var (
	_ TokenStore = (*Tokens)(nil)
	_ TokenStore = (*RedisTokens)(nil)
)

type tokenFile struct {
	Tokens []Token `json:"tokens"`
}

// Tokens is the token file in the state directory. Reads notice changes
// made by other processes (a revoke takes effect on the next request).
type Tokens struct {
	path string

	mu     sync.Mutex
	byHash map[string]Token
	stamp  fileStamp
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

// OpenTokens returns the token file at path (it need not exist yet).
func OpenTokens(path string) *Tokens {
	return &Tokens{path: path}
}

// Path is where the tokens are kept.
func (t *Tokens) Path() string { return t.path }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// newToken checks a name and makes a token for it: the secret to hand out
// once, and the Token to keep.
func newToken(name string, role Role) (string, Token, error) {
	if !namePattern.MatchString(name) {
		return "", Token{}, fmt.Errorf("invalid token name %q: use letters, digits, '.', '_', '@' or '-' (at most 64)", name)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, Token{Name: name, Role: role, Hash: hashToken(secret), Created: time.Now().UTC().Truncate(time.Second)}, nil
}

func errNameTaken(name string) error {
	return fmt.Errorf("a token named %q exists; revoke it first or pick another name", name)
}

func errNoToken(name string) error { return fmt.Errorf("no token named %q", name) }

// Create makes a new token and returns it; only its hash is kept.
func (t *Tokens) Create(name string, role Role) (string, error) {
	secret, tok, err := newToken(name, role)
	if err != nil {
		return "", err
	}
	err = t.update(func(f *tokenFile) error {
		if slices.ContainsFunc(f.Tokens, func(x Token) bool { return x.Name == name }) {
			return errNameTaken(name)
		}
		f.Tokens = append(f.Tokens, tok)
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Revoke deletes the named token.
func (t *Tokens) Revoke(name string) error {
	return t.update(func(f *tokenFile) error {
		i := slices.IndexFunc(f.Tokens, func(x Token) bool { return x.Name == name })
		if i < 0 {
			return errNoToken(name)
		}
		f.Tokens = slices.Delete(f.Tokens, i, i+1)
		return nil
	})
}

// List returns the tokens, oldest first.
func (t *Tokens) List() ([]Token, error) {
	f, err := t.read()
	if err != nil {
		return nil, err
	}
	return f.Tokens, nil
}

// Check returns the token that secret is, if it is one.
func (t *Tokens) Check(secret string) (Token, bool, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reloadLocked(); err != nil {
		return Token{}, false, err
	}
	tok, ok := t.byHash[hashToken(secret)]
	return tok, ok, nil
}

// Count reports how many tokens there are.
func (t *Tokens) Count() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reloadLocked(); err != nil {
		return 0, err
	}
	return len(t.byHash), nil
}

// reloadLocked rereads the file when its size or time changed.
func (t *Tokens) reloadLocked() error {
	var st fileStamp
	if fi, err := os.Stat(t.path); err == nil {
		st = fileStamp{size: fi.Size(), mtime: fi.ModTime(), ok: true}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to read the token file: %w", err)
	}
	if t.byHash != nil && st == t.stamp {
		return nil
	}
	f, err := t.read()
	if err != nil {
		return err
	}
	m := make(map[string]Token, len(f.Tokens))
	for _, tok := range f.Tokens {
		m[tok.Hash] = tok
	}
	t.byHash, t.stamp = m, st
	return nil
}

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func (t *Tokens) read() (*tokenFile, error) {
	var f tokenFile
	b, err := os.ReadFile(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return &f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the token file: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("token file %s is damaged: %v", t.path, err)
	}
	return &f, nil
}

// update changes the file under a lock file, writing a new file and
// renaming it over the old one.
func (t *Tokens) update(change func(*tokenFile) error) error {
	if err := os.MkdirAll(filepath.Dir(t.path), 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(t.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	f, err := t.read()
	if err != nil {
		return err
	}
	if err := change(f); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(t.path, append(b, '\n'), 0o600)
}

// lockFile takes an exclusive lock by creating path; a lock older than a
// minute is taken to be left over from a crash.
func lockFile(path string) (func(), error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the token file is locked by another process (%s)", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
