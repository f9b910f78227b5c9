package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"claude-secure": func() { os.Exit(int(Main(context.Background(), os.Args[1:], realEnv()))) },
	})
}

// TestScripts runs the CLI end to end: testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// freeport NAME sets NAME to a port the system just handed out
			// (an ephemeral one, free a moment ago): scripts never name a
			// fixed port on a shared machine
			"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: freeport NAME")
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				ts.Check(err)
				port := ln.Addr().(*net.TCPAddr).Port
				ln.Close()
				ts.Setenv(args[0], strconv.Itoa(port))
			},
			// fakeapi starts a fake Anthropic API for the rest of the
			// script and sets $FAKEAPI to its URL
			"fakeapi": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 0 {
					ts.Fatalf("usage: fakeapi")
				}
				api := fakeapi.New(true)
				ts.Defer(api.Close)
				ts.Value(fakeKey{}).(*fakeHolder).api = api
				ts.Setenv("FAKEAPI", api.URL)
			},
			// fakeapi-saw PATH [TEXT]: the fake API received a request to
			// PATH (whose body holds TEXT)
			"fakeapi-saw": func(ts *testscript.TestScript, neg bool, args []string) {
				api := ts.Value(fakeKey{}).(*fakeHolder).api
				if api == nil || len(args) < 1 || len(args) > 2 {
					ts.Fatalf("usage: fakeapi-saw PATH [TEXT] (after fakeapi)")
				}
				saw := false
				for _, r := range api.Requests() {
					if r.Path == args[0] && (len(args) == 1 || strings.Contains(string(r.Body), args[1])) {
						saw = true
					}
				}
				if saw == neg {
					ts.Fatalf("fakeapi-saw: %v, want %v", saw, !neg)
				}
			},
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "chmodblocks":
				// whether a file with mode 000 cannot be read here (as root,
				// it can)
				return chmodBlocks()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("CLAUDE_SECURE_HOME", env.WorkDir+"/state")
			// a fixed key keeps the scripts away from the user's keyring
			env.Setenv("CLAUDE_SECURE_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
			env.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
			env.Values[fakeKey{}] = &fakeHolder{}
			return nil
		},
	})
}

// fakeKey holds a script's fake API, once fakeapi started it.
type fakeKey struct{}

type fakeHolder struct{ api *fakeapi.Server }

func chmodBlocks() (bool, error) {
	dir, err := os.MkdirTemp("", "chmodblocks")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o000); err != nil {
		return false, err
	}
	f, err := os.Open(p)
	if err == nil {
		f.Close()
		return false, nil
	}
	return true, nil
}
