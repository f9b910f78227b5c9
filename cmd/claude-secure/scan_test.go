package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/claude-secure/claude-secure/mask"
)

// TestScanFlags drives the scan command through runF: what argv parses to,
// and which argv is a usage error (exit 2).
func TestScanFlags(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		paths  []string
		staged bool
		format string
		code   exitCode // of the command when runF does not run
	}{
		{name: "standard input", argv: nil, paths: []string{}, format: "text"},
		{name: "dash", argv: []string{"-"}, paths: []string{"-"}, format: "text"},
		{name: "paths", argv: []string{"a.txt", "dir", "-"}, paths: []string{"a.txt", "dir", "-"}, format: "text"},
		{name: "json", argv: []string{"--json", "a.txt"}, paths: []string{"a.txt"}, format: "json"},
		{name: "format json", argv: []string{"--format", "json"}, paths: []string{}, format: "json"},
		{name: "json and format json", argv: []string{"--json", "--format=json"}, paths: []string{}, format: "json"},
		{name: "sarif", argv: []string{"--format=sarif", "."}, paths: []string{"."}, format: "sarif"},
		{name: "staged", argv: []string{"--staged"}, paths: []string{}, staged: true, format: "text"},
		{name: "staged pathspecs", argv: []string{"--staged", "--format", "sarif", "--", "src", "*.tf"}, paths: []string{"src", "*.tf"}, staged: true, format: "sarif"},
		{name: "path after a flag", argv: []string{"a.txt", "--json"}, paths: []string{"a.txt"}, format: "json"},

		{name: "json and sarif", argv: []string{"--json", "--format", "sarif"}, code: exitUsage},
		{name: "json and text", argv: []string{"--format=text", "--json"}, code: exitUsage},
		{name: "unknown format", argv: []string{"--format", "xml"}, code: exitUsage},
		{name: "staged reads no stdin", argv: []string{"--staged", "-"}, code: exitUsage},
		{name: "unknown flag", argv: []string{"--sarif"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *scanOptions
			f := &factory{env: &env{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, Getenv: func(string) string { return "" }}}
			cmd := newCmdScan(f, func(o *scanOptions) error { got = o; return nil })
			cmd.SetArgs(append([]string{}, tt.argv...)) // never nil: cobra would read os.Args
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
			if !reflect.DeepEqual(got.paths, tt.paths) || got.staged != tt.staged || got.format != tt.format {
				t.Errorf("got paths %q staged %v format %q, want %q %v %q", got.paths, got.staged, got.format, tt.paths, tt.staged, tt.format)
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
			`foo\`,
			"?.go",
			"[!a]b.md",
			"[[:digit:]x].md",
			"[[:nope]x.md",
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
		{"logs/new\nline/y.txt", false, true},
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
		{"[unclosed", false, false}, // an unclosed [ never matches
		{"[unclosed]", false, false},
		{`foo\`, false, false}, // nor a pattern that ends in a lone backslash
		{"foo", false, false},
		{"a.go", false, true},
		{"\u00fc.go", false, false}, // ? is one byte, and ü two
		{"cb.md", false, true},
		{"\u00fcb.md", false, false}, // so is a bracket expression
		{"7.md", false, true},
		{"x.md", false, true},
		{"[x.md", false, true}, // "[:" with no ":]" before the "]": a "[" in the set
		{":x.md", false, true},
		{"[:x.md", false, false},
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

func TestParsePatch(t *testing.T) {
	patch := strings.Join([]string{
		`diff --git a/app.conf b/app.conf`,
		`index 1111111..2222222 100644`,
		`--- a/app.conf`,
		`+++ b/app.conf`,
		`@@ -2,0 +3,2 @@ region = us-east-1`,
		`+++ this content line looks like a header`,
		`+diff --git a/x b/x`,
		`@@ -10,2 +11,3 @@`,
		`-old`,
		`+new`,
		``,
		`+newer`,
		`\ No newline at end of file`,
		`diff --git a/dir/with space.txt b/dir/with space.txt`,
		`new file mode 100644`,
		`--- /dev/null`,
		"+++ b/dir/with space.txt\t",
		`@@ -0,0 +1 @@`,
		`+one`,
		`diff --git "a/\303\274.txt" "b/\303\274.txt"`,
		`--- "a/\303\274.txt"`,
		`+++ "b/\303\274.txt"`,
		`@@ -1,2 +0,0 @@`,
		`-a`,
		`-b`,
		`diff --git a/gone.txt b/gone.txt`,
		`deleted file mode 100644`,
		`--- a/gone.txt`,
		`+++ /dev/null`,
		`@@ -1 +0,0 @@`,
		`-x`,
		`diff --git a/empty.txt b/empty.txt`,
		`new file mode 100644`,
		`index 0000000..e69de29`,
		``,
	}, "\n")
	got, err := parsePatch(strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]lineRange{
		"app.conf":           {{3, 4}, {11, 11}, {13, 13}},
		"dir/with space.txt": {{1, 1}},
		"\u00fc.txt":         nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parsePatch(strings.NewReader("diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1,2 @@\n+one\n")); err == nil {
		t.Error("a hunk cut short read without an error")
	}
	if _, err := parsePatch(strings.NewReader("diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1,2 @@\n+one\n?two\n")); err == nil {
		t.Error("a hunk with an unexpected line read without an error")
	}
}

func TestParseRawDiff(t *testing.T) {
	raw := ":000000 100644 " + strings.Repeat("0", 40) + " " + strings.Repeat("a", 40) + " A\x00new file.txt\x00" +
		":100644 100644 " + strings.Repeat("b", 40) + " " + strings.Repeat("c", 40) + " R086\x00old.txt\x00moved.txt\x00" +
		":000000 160000 " + strings.Repeat("0", 40) + " " + strings.Repeat("d", 40) + " A\x00sub\x00"
	got, err := parseRawDiff([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []stagedFile{
		{path: "new file.txt", mode: "100644", blob: strings.Repeat("a", 40)},
		{path: "moved.txt", mode: "100644", blob: strings.Repeat("c", 40)},
		{path: "sub", mode: "160000", blob: strings.Repeat("d", 40)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseRawDiff([]byte(":100644 100644 x y R100\x00only-one\x00")); err == nil {
		t.Error("a rename with one path read without an error")
	}
}

// TestPosTracker: code-point columns and line ends, whatever the chunks.
func TestPosTracker(t *testing.T) {
	text := "ascii line\nPrüfe 10.0.0.1 und ü 10.0.0.2\n-----BEGIN\nKEY\n-----END\n"
	for _, chunk := range []int{1, 3, 7, len(text)} {
		var p posTracker
		for i := 0; i < len(text); i += chunk {
			p.feed([]byte(text[i:min(i+chunk, len(text))]))
		}
		first := int64(strings.Index(text, "10.0.0.1"))
		second := int64(strings.Index(text, "10.0.0.2"))
		if c := p.charColumn(first); c != 7 {
			t.Errorf("chunk %d: column of the first address %d, want 7", chunk, c)
		}
		if c := p.charColumn(second); c != 22 {
			t.Errorf("chunk %d: column of the second address %d, want 22", chunk, c)
		}
		pem := int64(strings.Index(text, "-----BEGIN"))
		end := int64(strings.Index(text, "-----END") + len("-----END"))
		if n := p.newlines(pem, end); n != 2 {
			t.Errorf("chunk %d: %d newlines in the key, want 2", chunk, n)
		}
		if c := p.charColumn(end); c != 9 {
			t.Errorf("chunk %d: column after the key %d, want 9", chunk, c)
		}
		p.prune(second)
		if c := p.charColumn(second); c != 22 {
			t.Errorf("chunk %d: after pruning, column %d, want 22", chunk, c)
		}
	}
}

func TestTouches(t *testing.T) {
	rs := []lineRange{{3, 4}, {10, 10}}
	for _, tt := range []struct {
		first, last int
		want        bool
	}{{1, 2, false}, {2, 3, true}, {4, 4, true}, {5, 9, false}, {9, 12, true}, {11, 11, false}} {
		if got := touches(rs, tt.first, tt.last); got != tt.want {
			t.Errorf("touches(%d..%d) = %v, want %v", tt.first, tt.last, got, tt.want)
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
			"a/**/z.txt\ntrailing   \n\\#hash\nfile[0-9].txt\nnot[!a-c].txt\nq?.md\n*.bak/\nnested/deeper/\n" +
			"[unclosed\nfoo\\\n?.txt\n??.rst\n[!a]b.md\n[[:nope]x.md\n",
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
		"[unclosed", "foo\\", "foo", "\u00fc.txt", "a.txt", "\u00e9.rst", "ab.md", "cb.md", "\u00fcb.md", "[x.md", ":x.md", "nx.md", "[:x.md",
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

// chunkReader hands out at most n bytes a read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestScanColumnsLongLines: SARIF's code-point columns on long lines full
// of non-ASCII text, read in odd chunks, agree with counting runes.
func TestScanColumnsLongLines(t *testing.T) {
	e, err := mask.New(make([]byte, 32), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"i-0f3a9c2b7d1e4a605", "i-0a1b2c3d4e5f60718"}
	var text strings.Builder
	for line := 0; line < 3; line++ {
		for k := 0; k < 40000; k++ {
			switch {
			case k%997 == 0:
				fmt.Fprintf(&text, " %s ", ids[k%2])
			case k%3 == 0:
				text.WriteString("ü ab ")
			case k%3 == 1:
				text.WriteString("日本 ")
			default:
				text.WriteString("plain ")
			}
		}
		text.WriteString("\n")
	}
	lines := strings.Split(text.String(), "\n")
	for _, chunk := range []int{4093, 1 << 20} {
		j := &scanJob{e: e, format: "sarif", buf: make([]byte, 256<<10), counts: map[string]int{},
			f: &factory{env: &env{Err: io.Discard}}}
		j.scanFile("long.txt", chunkReader{strings.NewReader(text.String()), chunk}, false, nil)
		if len(j.findings) != 3*41 || len(j.errs) != 0 {
			t.Fatalf("chunk %d: %d findings, %d errors", chunk, len(j.findings), len(j.errs))
		}
		for _, f := range j.findings {
			line := lines[f.Line-1]
			start := utf8.RuneCountInString(line[:f.Column-1]) + 1
			end := utf8.RuneCountInString(line[:f.Column-1+f.Length]) + 1
			if f.charColumn != start || f.charEndColumn != end || f.endLine != f.Line {
				t.Fatalf("chunk %d: line %d byte column %d: code points %d-%d (end line %d), want %d-%d",
					chunk, f.Line, f.Column, f.charColumn, f.charEndColumn, f.endLine, start, end)
			}
		}
	}
}

// TestPosTrackerBounded: what the tracker keeps stays bounded by what the
// scanner holds back, whatever the length of the line.
func TestPosTrackerBounded(t *testing.T) {
	chunk := []byte(strings.Repeat("ü ab ", 256<<10/6))
	var p posTracker
	for i := 0; i < 48; i++ { // a 12 MB line
		p.feed(chunk)
		p.prune(p.n - 40) // the scanner holds back a little
	}
	if f := p.footprint(); f > 2*len(chunk)+64<<10 {
		t.Errorf("the tracker keeps %d bytes for a line of %d", f, 48*len(chunk))
	}
	// the last 40 bytes: 6 whole "ü ab " (one continuation byte each) after
	// the " ab " of another, so 34 code points
	if c, want := p.charColumn(p.n-40), 48*(len(chunk)/6*5)-34+1; c != want {
		t.Errorf("column %d, want %d", c, want)
	}
}
