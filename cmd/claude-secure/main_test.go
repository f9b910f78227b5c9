package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/claude-secure/claude-secure/internal/redistest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakevertex"
	"github.com/claude-secure/claude-secure/mask"
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
			// fakevertex FILE starts a fake Vertex AI for the rest of the
			// script, writes a service account key file for it (its
			// token_uri the fake's) to FILE and sets $FAKEVERTEX to its base
			// URL
			"fakevertex": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: fakevertex FILE")
				}
				fv := fakevertex.New(fakevertex.Options{})
				ts.Defer(fv.Close)
				ts.Check(fv.WriteServiceAccount(ts.MkAbs(args[0])))
				ts.Setenv("FAKEVERTEX", fv.Base())
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
			// sarifcheck [-unsuccessful] FILE [URI:LINE:COL:ENDCOL:RULE...]
			// checks FILE is a SARIF log as code scanning reads it, and that
			// its results are exactly the ones given (URI relative to
			// %SRCROOT%, or a file:/// URI for a file outside it)
			"sarifcheck": sarifCheck,
			// redis NAME starts a real redis-server for the rest of the
			// script and sets NAME to its redis:// URL and NAME_ADDR to
			// host:port
			"redis": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: redis NAME")
				}
				srv := redistest.Start(scriptT{ts})
				ts.Setenv(args[0], srv.URL())
				ts.Setenv(args[0]+"_ADDR", srv.Addr())
			},
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "chmodblocks":
				// whether a file with mode 000 cannot be read here (as root,
				// it can)
				return chmodBlocks()
			case "root":
				return os.Geteuid() == 0, nil
			case "redis":
				// redis-server is installed, or the suite requires it (and
				// the redis command then fails)
				_, err := exec.LookPath("redis-server")
				return err == nil || os.Getenv("CLAUDE_SECURE_REQUIRE_REDIS") != "", nil
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

// scriptT lets a script use the test helpers that take a test.
type scriptT struct{ ts *testscript.TestScript }

func (scriptT) Helper()                          {}
func (s scriptT) Fatalf(format string, a ...any) { s.ts.Fatalf(format, a...) }
func (s scriptT) Skipf(format string, a ...any)  { s.ts.Fatalf(format, a...) } // scripts skip with [!redis]
func (s scriptT) Cleanup(fn func())              { s.ts.Defer(fn) }
func (s scriptT) TempDir() string {
	d, err := os.MkdirTemp(s.ts.Getenv("WORK"), "redis")
	s.ts.Check(err)
	return d
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

func sarifCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: sarifcheck [-unsuccessful] FILE [URI:LINE:COL:ENDCOL:RULE...]")
	}
	wantOK := true
	if len(args) > 0 && args[0] == "-unsuccessful" {
		wantOK = false
		args = args[1:]
	}
	if len(args) < 1 {
		ts.Fatalf("usage: sarifcheck [-unsuccessful] FILE [URI:LINE:COL:ENDCOL:RULE...]")
	}
	type msg struct {
		Text string `json:"text"`
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name    string `json:"name"`
					Version string `json:"version"`
					Rules   []struct {
						ID               string `json:"id"`
						ShortDescription msg    `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
			} `json:"invocations"`
			ColumnKind string `json:"columnKind"`
			Results    []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   msg    `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
							EndColumn   int `json:"endColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &log))
	if log.Version != "2.1.0" || log.Schema == "" || len(log.Runs) != 1 {
		ts.Fatalf("not a SARIF 2.1.0 log with one run")
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "claude-secure" || d.Version == "" {
		ts.Fatalf("tool.driver: name %q, version %q", d.Name, d.Version)
	}
	ids := map[string]bool{}
	for _, r := range d.Rules {
		if r.ID == "" || ids[r.ID] || r.ShortDescription.Text == "" {
			ts.Fatalf("rule %q: empty, repeated or without a shortDescription", r.ID)
		}
		ids[r.ID] = true
	}
	for _, r := range mask.Rules() {
		if !ids[r.Kind.String()] {
			ts.Fatalf("no rule for kind %s", r.Kind)
		}
	}
	if run.ColumnKind != "unicodeCodePoints" {
		ts.Fatalf("columnKind %q", run.ColumnKind)
	}
	if len(run.Invocations) != 1 || run.Invocations[0].ExecutionSuccessful != wantOK {
		ts.Fatalf("invocations: want one, executionSuccessful %v", wantOK)
	}
	var got []string
	for i, r := range run.Results {
		if !ids[r.RuleID] || r.RuleIndex < 0 || r.RuleIndex >= len(d.Rules) || d.Rules[r.RuleIndex].ID != r.RuleID {
			ts.Fatalf("result %d: ruleId %q and ruleIndex %d do not name one rule", i, r.RuleID, r.RuleIndex)
		}
		if r.Level != "error" || !strings.Contains(r.Message.Text, r.RuleID) || len(r.Locations) != 1 {
			ts.Fatalf("result %d: level %q, message %q, %d locations", i, r.Level, r.Message.Text, len(r.Locations))
		}
		pl := r.Locations[0].PhysicalLocation
		switch uri := pl.ArtifactLocation.URI; {
		case strings.HasPrefix(uri, "file:///"):
			// a file outside the source root: an absolute URI, on no base
			if pl.ArtifactLocation.URIBaseID != "" {
				ts.Fatalf("result %d: absolute uri %q with a uriBaseId", i, uri)
			}
		case strings.Contains(uri, ":") || strings.HasPrefix(uri, "/") || uri == ".." || strings.HasPrefix(uri, "../") ||
			strings.Contains(uri, "/../") || pl.ArtifactLocation.URIBaseID != "%SRCROOT%":
			ts.Fatalf("result %d: uri %q is not inside %%SRCROOT%%", i, uri)
		}
		rg := pl.Region
		if rg.StartLine < 1 || rg.StartColumn < 1 || rg.EndColumn <= rg.StartColumn {
			ts.Fatalf("result %d: region %+v", i, rg)
		}
		got = append(got, fmt.Sprintf("%s:%d:%d:%d:%s", pl.ArtifactLocation.URI, rg.StartLine, rg.StartColumn, rg.EndColumn, r.RuleID))
	}
	want := append([]string(nil), args[1:]...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		ts.Fatalf("results:\n  got  %s\n  want %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}
