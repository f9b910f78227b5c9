package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"claude-secure": func() { os.Exit(int(Main(os.Args[1:], realEnv()))) },
	})
}

// TestScripts runs the CLI end to end: testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CLAUDE_SECURE_HOME", env.WorkDir+"/state")
			// a fixed key keeps the scripts away from the user's keyring
			env.Setenv("CLAUDE_SECURE_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
			env.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
			return nil
		},
	})
}
