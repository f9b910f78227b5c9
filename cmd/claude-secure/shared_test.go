package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask/store"
)

// host is one machine of a team: its own state directory, the team's
// store key.
type host struct {
	t    *testing.T
	home string
	vars map[string]string
}

func newHost(t *testing.T, vars ...string) *host {
	h := &host{t: t, home: filepath.Join(t.TempDir(), "state"), vars: map[string]string{}}
	for i := 0; i+1 < len(vars); i += 2 {
		h.vars[vars[i]] = vars[i+1]
	}
	return h
}

func (h *host) env(out, errw interface{ Write([]byte) (int, error) }) *env {
	return &env{
		In: strings.NewReader(""), Out: out, Err: errw,
		Getenv: func(k string) string {
			switch k {
			case "CLAUDE_SECURE_HOME":
				return h.home
			case store.KeyEnv:
				return "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
			}
			return h.vars[k]
		},
		Keyring: noKeyring{},
	}
}

// run runs one command to its end.
func (h *host) run(args ...string) (stdout, stderr string, code exitCode) {
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, h.env(&out, &errb))
	return out.String(), errb.String(), code
}

// serve starts a gateway replica on an ephemeral port and returns its URL.
func (h *host) serve(args ...string) string {
	t := h.t
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	done := make(chan exitCode, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), h.env(&bytes.Buffer{}, logs))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d: %s", code, logs.String())
		}
	})
	addr := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d: %s", code, logs.String())
		default:
		}
	}
	t.Fatalf("serve did not start: %s", logs.String())
	return ""
}

type noKeyring struct{}

func (noKeyring) Get(string, string) (string, error) { return "", store.ErrKeyNotFound }
func (noKeyring) Set(string, string, string) error   { return store.ErrKeyringUnavailable }
func (noKeyring) Delete(string, string) error        { return store.ErrKeyNotFound }

func call(t *testing.T, url, tok string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "claude-fake", "max_tokens": 10,
		"messages": []any{map[string]any{"role": "user", "content": "hello"}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(gateway.TokenHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Two serve replicas on one shared store act as one gateway: a token made
// with `token create --store` on a third host works on both, its rate
// limit counts its requests to both, a revoke on any host holds on both,
// and `store reset` leaves the tokens. Nothing is written to tokens.json.
func TestServeReplicasShareTokensAndLimits(t *testing.T) {
	srv := redistest.Start(t)
	api := fakeapi.New(true)
	t.Cleanup(api.Close)
	admin := newHost(t)
	out, errs, code := admin.run("--store", srv.URL(), "token", "create", "alice")
	if code != exitOK {
		t.Fatalf("token create: %d %s", code, errs)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, gateway.TokenPrefix) {
		t.Fatal("token create printed no token")
	}
	if _, _, code := admin.run("--store", srv.URL(), "token", "create", "alice"); code == exitOK {
		t.Fatal("a second token named alice was created")
	}
	// one request every 100 s: a second at once is over the limit however
	// slow this machine is
	limits := []string{"--upstream", api.URL, "--rate", "0.01", "--rate-hourly", "0"}
	one := newHost(t, store.StoreEnv, srv.URL()).serve(limits...)
	two := newHost(t, store.StoreEnv, srv.URL()).serve(limits...)
	if st := call(t, two, tok); st != http.StatusOK {
		t.Fatalf("replica 2: %d, want 200", st)
	}
	if st := call(t, one, tok); st != http.StatusTooManyRequests {
		t.Fatalf("replica 1 right after replica 2 served the token: %d, want 429", st)
	}

	other := newHost(t, store.StoreEnv, srv.URL())
	if _, _, code := other.run("store", "reset", "--yes"); code != exitOK {
		t.Fatal("store reset failed")
	}
	out, _, code = other.run("token", "list")
	if code != exitOK || !regexp.MustCompile(`(?m)^NAME +ROLE +CREATED\nalice +user +20`).MatchString(out) {
		t.Fatalf("token list after store reset (%d):\n%s", code, out)
	}
	if strings.Contains(out, gateway.TokenPrefix) {
		t.Fatal("token list shows a token")
	}
	if _, errs, code := other.run("token", "revoke", "alice"); code != exitOK {
		t.Fatalf("token revoke: %s", errs)
	}
	for i, url := range []string{one, two} {
		if st := call(t, url, tok); st != http.StatusUnauthorized {
			t.Fatalf("replica %d after the revoke: %d, want 401", i+1, st)
		}
	}
	for _, h := range []*host{admin, other} {
		if _, err := os.Stat(filepath.Join(h.home, "tokens.json")); !os.IsNotExist(err) {
			t.Errorf("a tokens.json was written beside a shared store: %v", err)
		}
	}

	srv.Kill()
	_, errs, code = other.run("token", "list")
	if code != exitError || !strings.Contains(errs, "cannot be reached") || !strings.Contains(errs, "hint: check that Redis is running") {
		t.Fatalf("token list with Redis down (%d): %s", code, errs)
	}
}
