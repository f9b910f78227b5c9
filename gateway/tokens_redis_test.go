package gateway

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/redis/go-redis/v9"
)

// sharedRedis starts a Redis that keeps what it acknowledged across a
// kill (every write fsynced), as a production one with AOF would across a
// restart.
func sharedRedis(t testing.TB) *redistest.Server {
	t.Helper()
	return redistest.Start(t, "appendonly yes", "appendfsync always")
}

// redisClient is one replica's (or one host's) connection to srv.
func redisClient(t testing.TB, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	c, err := store.NewRedisClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newReplica is a gateway keeping its tokens and limits in srv's Redis,
// with a connection of its own.
func newReplica(t *testing.T, srv *redistest.Server, edit func(*Config)) *testGateway {
	t.Helper()
	c := redisClient(t, srv)
	return newTestGateway(t, func(cfg *Config) {
		cfg.Tokens = NewRedisTokens(c)
		cfg.Shared = c
		if edit != nil {
			edit(cfg)
		}
	})
}

func callStatus(t *testing.T, g *testGateway, tok string) int {
	t.Helper()
	resp, _ := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: tok}, messagesBody(false))
	return resp.StatusCode
}

// A token created with the token command on any host is accepted by every
// replica at its next request, and one revoked through any replica is
// refused by all of them at their next request.
func TestRedisTokensReachEveryReplica(t *testing.T) {
	srv := sharedRedis(t)
	admin := NewRedisTokens(redisClient(t, srv))
	one, two := newReplica(t, srv, nil), newReplica(t, srv, nil)

	tok, err := admin.Create("alice", RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
		t.Fatalf("token shape: prefix %v, length %d", strings.HasPrefix(tok, TokenPrefix), len(tok))
	}
	for i, g := range []*testGateway{two, one} {
		if st := callStatus(t, g, tok); st != http.StatusOK {
			t.Fatalf("replica %d: a new token got %d, want 200", 2-i, st)
		}
	}
	viewer, err := one.tokens.Create("grafana", RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if st := callStatus(t, two, viewer); st != http.StatusForbidden {
		t.Fatalf("a viewer token made through replica 1 got %d from replica 2, want 403", st)
	}
	if _, err := two.tokens.Create("alice", RoleAdmin); err == nil || !strings.Contains(err.Error(), `a token named "alice" exists`) {
		t.Fatalf("a second token named alice: %v", err)
	}
	for _, bad := range []string{"", "-x", "a b", strings.Repeat("n", 65)} {
		if _, err := admin.Create(bad, RoleUser); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	list, err := two.tokens.List()
	if err != nil || len(list) != 2 || list[0].Name != "alice" || list[0].Role != RoleUser || list[1].Name != "grafana" || list[0].Created.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	if n, err := one.tokens.Count(); n != 2 || err != nil {
		t.Fatalf("count %d %v, want 2", n, err)
	}

	if err := one.tokens.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	for i, g := range []*testGateway{two, one} {
		if st := callStatus(t, g, tok); st != http.StatusUnauthorized {
			t.Fatalf("replica %d: a revoked token got %d, want 401", 2-i, st)
		}
	}
	if err := admin.Revoke("alice"); err == nil || !strings.Contains(err.Error(), `no token named "alice"`) {
		t.Fatalf("revoking a missing token: %v", err)
	}
	// the name is free again, and the old token stays dead
	tok2, err := admin.Create("alice", RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if callStatus(t, one, tok2) != http.StatusOK || callStatus(t, one, tok) != http.StatusUnauthorized {
		t.Fatal("a token recreated under a revoked name: the new one must work and the old one not")
	}
	if n := one.api.Hits.Load() + two.api.Hits.Load(); n != 3 {
		t.Fatalf("upstream hits %d, want 3", n)
	}
}

// Redis holds a token's SHA-256, never the token, in its keys, its values
// and its append-only file; and every key is outside the store's prefix,
// so `store reset` leaves the tokens working.
func TestRedisHoldsNoTokenSecret(t *testing.T) {
	srv := sharedRedis(t)
	g := newReplica(t, srv, func(c *Config) { c.Limits = DefaultLimits })
	var secrets []string
	for _, name := range []string{"alice", "bob"} {
		secrets = append(secrets, g.token(t, name, RoleUser))
	}
	for _, s := range secrets {
		if st := callStatus(t, g, s); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
	}
	if err := g.tokens.Revoke("bob"); err != nil {
		t.Fatal(err)
	}

	c := redisClient(t, srv)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var held strings.Builder
	for _, k := range keys {
		if !strings.HasPrefix(k, redisPrefix) {
			t.Errorf("key %q is outside %q", k, redisPrefix)
		}
		held.WriteString(k + "\n")
		switch typ := c.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				held.WriteString(f + "=" + v + "\n")
			}
		case "string":
			held.WriteString(c.Get(ctx, k).Val() + "\n")
		default:
			t.Errorf("key %q has type %s", k, typ)
		}
	}
	if len(keys) < 3 {
		t.Fatalf("only %d keys: tokens, names and limits expected", len(keys))
	}
	err = filepath.WalkDir(srv.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".log") || strings.HasSuffix(p, ".conf") {
			return err
		}
		b, err := os.ReadFile(p)
		held.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(held.String(), hashToken(secrets[0])) {
		t.Fatal("the token's hash is not in Redis: the check below looks at the wrong data")
	}
	for i, s := range secrets {
		if strings.Contains(held.String(), s[len(TokenPrefix):]) {
			t.Errorf("token %d is held by Redis", i)
		}
	}

	if _, err := store.ResetRedis(ctx, srv.URL()); err != nil {
		t.Fatal(err)
	}
	if st := callStatus(t, g, secrets[0]); st != http.StatusOK {
		t.Fatalf("after store reset a token got %d, want 200", st)
	}
}

// An entry that does not decode refuses the request (503), never lets it
// through.
func TestRedisTokensDamagedEntryRefuses(t *testing.T) {
	srv := sharedRedis(t)
	g := newReplica(t, srv, nil)
	tok := g.token(t, "alice", RoleUser)
	if _, err := redistest.Do(srv.Addr(), "HSET", redisTokensKey, hashToken(tok), `{"name":"alice","role":"root"}`); err != nil {
		t.Fatal(err)
	}
	if st := callStatus(t, g, tok); st != http.StatusServiceUnavailable {
		t.Fatalf("a damaged entry: status %d, want 503", st)
	}
	if _, err := g.tokens.List(); err == nil {
		t.Fatal("list read a damaged entry")
	}
	if g.api.Hits.Load() != 0 {
		t.Fatal("a request reached the upstream")
	}
}

// Redis down: a token cannot be checked, so the request is refused with
// a 503 to retry (not a 401 that would tell a client its token is bad,
// never a 200); the token command fails with ErrUnavailable. Back up, the
// same token works.
func TestRedisTokensDownFailClosed(t *testing.T) {
	srv := sharedRedis(t)
	g := newReplica(t, srv, nil)
	tok := g.token(t, "alice", RoleUser)
	if st := callStatus(t, g, tok); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	srv.Kill()
	resp, body := post(t, g.url+"/v1/messages", map[string]string{TokenHeader: tok}, messagesBody(false))
	if resp.StatusCode != http.StatusServiceUnavailable || errorType(t, body) != "api_error" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("Redis down: status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if _, err := g.tokens.Create("bob", RoleUser); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("create with Redis down: %v", err)
	}
	if _, err := g.tokens.List(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("list with Redis down: %v", err)
	}
	if g.api.Hits.Load() != 1 {
		t.Fatal("a request went upstream while its token could not be checked")
	}
	srv.Restart()
	if st := callStatus(t, g, tok); st != http.StatusOK {
		t.Fatalf("after Redis came back: status %d, want 200", st)
	}
}
