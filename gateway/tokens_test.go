package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "tokens.json")
	a := OpenTokens(path)
	tok, err := a.Create("alice", RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
		t.Fatalf("token shape: prefix %v, length %d", strings.HasPrefix(tok, TokenPrefix), len(tok))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), tok[len(TokenPrefix):]) {
		t.Fatal("the token file holds the token itself")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}
	if _, err := a.Create("alice", RoleAdmin); err == nil {
		t.Fatal("a second token with the same name was created")
	}
	for _, bad := range []string{"", "-x", "a b", strings.Repeat("n", 65), "ü"} {
		if _, err := a.Create(bad, RoleUser); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	// another process (another Tokens on the same file) sees changes at once
	b := OpenTokens(path)
	got, ok, err := b.Check(tok)
	if err != nil || !ok || got.Name != "alice" || got.Role != RoleUser {
		t.Fatalf("check: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := b.Check(tok + "x"); ok {
		t.Fatal("a changed token was accepted")
	}
	if err := a.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Check(tok); ok {
		t.Fatal("a revoked token is still accepted by a running reader")
	}
	if err := a.Revoke("alice"); err == nil {
		t.Fatal("revoking a missing token succeeded")
	}
	list, err := b.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("list after revoke: %v %v", list, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Check(tok); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Fatal("unknown role accepted")
	}
}
