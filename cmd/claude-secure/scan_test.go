package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestScanFlags drives the scan command through runF: what argv parses to,
// and which argv is a usage error (exit 2).
func TestScanFlags(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		paths  []string
		format string
		code   exitCode // of the command when runF does not run
	}{
		{name: "standard input", argv: nil, paths: []string{}, format: "text"},
		{name: "dash", argv: []string{"-"}, paths: []string{"-"}, format: "text"},
		{name: "paths", argv: []string{"a.txt", "dir", "-"}, paths: []string{"a.txt", "dir", "-"}, format: "text"},
		{name: "json", argv: []string{"--json", "a.txt"}, paths: []string{"a.txt"}, format: "json"},
		{name: "format json", argv: []string{"--format", "json"}, paths: []string{}, format: "json"},
		{name: "json and format json", argv: []string{"--json", "--format=json"}, paths: []string{}, format: "json"},
		{name: "path after a flag", argv: []string{"a.txt", "--json"}, paths: []string{"a.txt"}, format: "json"},

		{name: "json and text", argv: []string{"--format=text", "--json"}, code: exitUsage},
		{name: "unknown format", argv: []string{"--format", "xml"}, code: exitUsage},
		{name: "unknown flag", argv: []string{"--staged"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *scanOptions
			f := &factory{env: &env{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, Getenv: func(string) string { return "" }}}
			cmd := newCmdScan(f, func(o *scanOptions) error { got = o; return nil })
			cmd.SetArgs(tt.argv)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			var msg bytes.Buffer
			code := report(&msg, err, "claude-secure scan --help")
			if tt.code != exitOK {
				if code != tt.code || got != nil {
					t.Fatalf("exit %d (runF ran: %v), want %d", code, got != nil, tt.code)
				}
				if !strings.Contains(msg.String(), "hint: run 'claude-secure scan --help'") {
					t.Errorf("a usage error without the hint: %q", msg.String())
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("error %v, runF ran: %v", err, got != nil)
			}
			if got.paths == nil {
				got.paths = []string{}
			}
			if !reflect.DeepEqual(got.paths, tt.paths) || got.format != tt.format {
				t.Errorf("got paths %q format %q, want %q %q", got.paths, got.format, tt.paths, tt.format)
			}
		})
	}
}

func TestGitignore(t *testing.T) {
	levels := []ignoreLevel{
		{base: "", rules: parseGitignore([]byte(strings.Join([]string{
			"# a comment",
			"",
			"*.log",
			"!keep.log",
			"build/",
			"/root-only.txt",
			"doc/*.tmp",
			"**/cache",
			"logs/**",
			"a/**/z.txt",
			"trailing   ",
			`\#hash`,
			`\!bang`,
			"file[0-9].txt",
			"not[!a-c].txt",
			"q?.md",
			"[unclosed",
		}, "\n")))},
		{base: "sub", rules: parseGitignore([]byte("!important.log\n/anchored.txt\n"))},
	}
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"x.log", false, true},
		{"deep/down/x.log", false, true},
		{"keep.log", false, false},
		{"deep/keep.log", false, false},
		{"build", true, true},
		{"src/build", true, true},
		{"build", false, false}, // build/ matches directories only
		{"root-only.txt", false, true},
		{"src/root-only.txt", false, false},
		{"doc/x.tmp", false, true},
		{"doc/sub/x.tmp", false, false}, // * stops at a slash
		{"src/doc/x.tmp", false, false}, // a middle slash anchors
		{"cache", true, true},
		{"a/b/cache", false, true},
		{"logs", true, false}, // logs/** is what is inside
		{"logs/x/y.txt", false, true},
		{"a/z.txt", false, true},
		{"a/b/c/z.txt", false, true},
		{"b/a/z.txt", false, false},
		{"trailing", false, true},
		{"#hash", false, true},
		{"!bang", false, true},
		{"file7.txt", false, true},
		{"filex.txt", false, false},
		{"notd.txt", false, true},
		{"nota.txt", false, false},
		{"q1.md", false, true},
		{"q12.md", false, false},
		{"[unclosed", false, true},
		{"sub/important.log", false, false}, // the deeper file decides
		{"sub/other.log", false, true},
		{"sub/anchored.txt", false, true},
		{"anchored.txt", false, false},
		{"sub/x/anchored.txt", false, false},
		{"plain.txt", false, false},
	}
	for _, tt := range tests {
		if got := ignoredPath(levels, tt.path, tt.isDir); got != tt.want {
			t.Errorf("ignored(%q, dir %v) = %v, want %v", tt.path, tt.isDir, got, tt.want)
		}
	}
}

// TestGitignoreAgreesWithGit checks the .gitignore reader against git's own
// (git check-ignore) on one tree.
func TestGitignoreAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	files := map[string]string{
		".gitignore": "*.log\n!keep.log\nbuild/\n/root-only.txt\ndoc/*.tmp\n**/cache\nlogs/**\n!logs/back.txt\n" +
			"a/**/z.txt\ntrailing   \n\\#hash\nfile[0-9].txt\nnot[!a-c].txt\nq?.md\n*.bak/\nnested/deeper/\n",
		"sub/.gitignore":   "!important.log\n/anchored.txt\n*.txt\n!keep-*.txt\n",
		"sub/x/.gitignore": "!x.txt\n",
	}
	paths := []string{
		"x.log", "deep/down/x.log", "keep.log", "deep/keep.log", "build/f", "src/build/f", "src/build.txt",
		"root-only.txt", "src/root-only.txt", "doc/x.tmp", "doc/sub/x.tmp", "src/doc/x.tmp",
		"cache/f", "a/b/cache/f", "logs/x/y.txt", "logs/back.txt", "a/z.txt", "a/b/c/z.txt", "b/a/z.txt",
		"trailing", "#hash", "file7.txt", "filex.txt", "notd.txt", "nota.txt", "q1.md", "q12.md",
		"old.bak/f", "old.bak2", "nested/deeper/f", "x/nested/deeper/f",
		"sub/important.log", "sub/other.log", "sub/anchored.txt", "anchored.txt", "sub/x/anchored.txt",
		"sub/keep-1.txt", "sub/x/x.txt", "sub/x/y.txt", "sub/plain.md", "plain.txt",
	}
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range paths {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CEILING_DIRECTORIES="+filepath.Dir(root))
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		return string(out), err
	}
	if _, err := git("", "init", "-q"); err != nil {
		t.Fatal(err)
	}
	// the files git would list: what neither a rule nor an ignored parent excludes
	out, err := git("", "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, name := range strings.Split(out, "\x00") {
		if name != "" {
			want[name] = true
		}
	}
	var j scanJob
	got := map[string]bool{}
	j.listDir(root, "", nil, func(rel string) { got[rel] = true })
	if len(want) < 10 || len(want) == len(paths)+3 {
		t.Fatalf("git lists %d of %d files: the tree does not test much", len(want), len(paths)+3)
	}
	for _, name := range append(paths, ".gitignore", "sub/.gitignore", "sub/x/.gitignore") {
		if got[name] != want[name] {
			t.Errorf("%s: listed %v, git lists it: %v", name, got[name], want[name])
		}
	}
}
