package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// scanDir scans every file under dir. Inside a git work tree the files are
// the ones git lists: the tracked ones, the untracked ones git does not
// ignore and, when git ignores dir itself, every untracked one; git failing
// there is an error. Outside any work tree, a walk that honours the
// .gitignore files under dir.
func (j *scanJob) scanDir(dir string) {
	if !j.firstVisit(dir) {
		return
	}
	tree, err := gitWorkTree(dir)
	j.scanDirIn(dir, tree, err)
}

// firstVisit reports whether the directory dir was not scanned yet, and
// marks it scanned.
func (j *scanJob) firstVisit(dir string) bool {
	key := dir
	if abs, err := filepath.Abs(dir); err == nil {
		key = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			key = real
		}
	}
	if j.seenDirs[key] {
		return false
	}
	j.seenDirs[key] = true
	return true
}

// scanDirIn scans dir once gitWorkTree said where it is.
func (j *scanJob) scanDirIn(dir string, tree gitPlace, err error) {
	switch {
	case err != nil:
		j.gitFail(dir, err)
	case tree.inTree:
		j.scanGitDir(dir, tree.prefix == "")
	default:
		j.listDir(dir, "", nil, func(rel string) { j.openAndScan(filepath.Join(dir, filepath.FromSlash(rel)), true) })
	}
}

// gitPlace is where a directory is for git.
type gitPlace struct {
	inTree bool   // in a work tree
	prefix string // its path under the work tree's top: "" for the top
}

// gitWorkTree finds whether dir is inside a git work tree. Outside any
// repository it is not; git failing, or git missing when a repository
// holds dir, is an error.
func gitWorkTree(dir string) (gitPlace, error) {
	out, err := gitOutput(dir, "rev-parse", "--is-inside-work-tree", "--show-prefix")
	if err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound):
			if gitDir := gitMarker(dir); gitDir != "" {
				return gitPlace{}, &gitMissing{gitDir: gitDir}
			}
			return gitPlace{}, nil
		case notARepository(err):
			return gitPlace{}, nil // no repository here nor above
		}
		return gitPlace{}, err
	}
	// "false" inside a .git directory or a bare repository
	answer, prefix, _ := strings.Cut(string(out), "\n")
	return gitPlace{inTree: answer == "true", prefix: strings.TrimSuffix(prefix, "\n")}, nil
}

// gitMissing is git missing when dir is in a repository.
type gitMissing struct{ gitDir string }

func (e *gitMissing) Error() string {
	return fmt.Sprintf("git is not on PATH, and this is in a git repository (%s): git says which of its files to scan", e.gitDir)
}

// gitMarker finds what makes dir part of a git repository the way git
// looks for it, when git itself is missing: $GIT_DIR, or a .git directory
// (holding HEAD) or .git file (gitdir: ...) in dir or above it, up to
// $GIT_CEILING_DIRECTORIES. It is "" when there is none.
func gitMarker(dir string) string {
	if d := os.Getenv("GIT_DIR"); d != "" {
		return d
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	ceilings := map[string]bool{}
	for _, c := range filepath.SplitList(os.Getenv("GIT_CEILING_DIRECTORIES")) {
		if c != "" {
			ceilings[filepath.Clean(c)] = true
		}
	}
	for {
		g := filepath.Join(d, ".git")
		if fi, err := os.Stat(g); err == nil {
			if fi.IsDir() {
				if _, err := os.Stat(filepath.Join(g, "HEAD")); err == nil {
					return g
				}
			} else if data, err := os.ReadFile(g); err == nil && bytes.HasPrefix(data, []byte("gitdir:")) {
				return g
			}
		}
		parent := filepath.Dir(d)
		if parent == d || ceilings[parent] {
			return ""
		}
		d = parent
	}
}

// gitFail records that git could not list the files of dir, with a hint.
func (j *scanJob) gitFail(dir string, err error) {
	j.fail(dir, errors.New(j.gitReason(err)))
	fmt.Fprintf(j.f.Err, "claude-secure: hint: %s\n", j.gitHint(dir, err))
}

// gitHint says what to do when git failed in dir.
func (j *scanJob) gitHint(dir string, err error) string {
	var gm *gitMissing
	var ge *gitError
	switch {
	case errors.As(err, &gm) || errors.Is(err, exec.ErrNotFound):
		return "install git, or scan where git is installed"
	case errors.As(err, &ge) && bytes.Contains(ge.stderr, []byte("dubious ownership")):
		return "if you trust this repository, run: git config --global --add safe.directory " + j.safeDirectory(ge.stderr, dir)
	default:
		return "run git status in " + quotePath(dir) + " to see what git says"
	}
}

// notARepository reports whether git failed for finding no repository in
// the directory nor above it.
func notARepository(err error) bool {
	var ge *gitError
	return errors.As(err, &ge) && ge.err == nil && strings.Contains(string(ge.stderr), "not a git repository (or any")
}

// safeDirectory is the directory git names for safe.directory, when it
// holds nothing to mask; else dir, made absolute.
func (j *scanJob) safeDirectory(stderr []byte, dir string) string {
	for _, line := range strings.Split(string(stderr), "\n") {
		if _, d, ok := strings.Cut(line, "safe.directory "); ok && strings.TrimSpace(d) != "" && j.showable(strings.TrimSpace(d)) {
			return strings.TrimSpace(d)
		}
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return quotePath(dir)
}

// gitIgnored reports whether git ignores the directory dir itself, by its
// rules (even when it tracks files under it). Never ask it of the top of a
// work tree: a pattern such as "*" matches "." there.
func gitIgnored(dir string) (bool, error) {
	args := []string{"check-ignore", "-q", "--no-index", "."}
	cmd := gitCommand(dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1 && stderr.Len() == 0:
		return false, nil
	}
	return false, newGitError(args, err, stderr.Bytes())
}

// scanGitDir scans the files git lists under dir: the tracked ones, the
// untracked ones it does not ignore, and, when dir is not the work tree's
// top and git ignores it, the untracked ones it ignores: dir was named.
func (j *scanJob) scanGitDir(dir string, top bool) {
	lists := [][]string{{"ls-files", "-z", "--cached", "--others", "--exclude-standard"}}
	if !top {
		ignored, err := gitIgnored(dir)
		if err != nil {
			j.gitFail(dir, err)
			return
		}
		if ignored {
			lists = append(lists, []string{"ls-files", "-z", "--others", "--ignored", "--exclude-standard"})
		}
	}
	var names []string
	for _, args := range lists {
		var stderr bytes.Buffer
		cmd := gitCommand(dir, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			// no fallback to reading .gitignore files: inside a work tree
			// git decides, and a partial list read as a clean result is a
			// hole
			j.gitFail(dir, newGitError(args, err, stderr.Bytes()))
			return
		}
		if stderr.Len() > 0 {
			// git lists what it could and warns about the rest (a directory
			// it cannot open): that rest was not scanned
			j.fail(dir, errors.New(j.gitReason(&gitError{op: "git ls-files", stderr: stderr.Bytes()})))
		}
		names = append(names, strings.Split(string(out), "\x00")...)
	}
	sort.Strings(names)
	last := ""
	for _, name := range names {
		if name == "" || name == last {
			continue // the index lists a conflicted path once per stage
		}
		last = name
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			j.scanDir(p) // a repository of its own inside this one
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// tracked, but not in the work tree (deleted, or not checked out)
		case err != nil:
			j.fail(p, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			j.skipped.Symlinks++
		case fi.IsDir():
			j.scanDir(p) // a submodule
		case fi.Mode().IsRegular():
			j.openAndScan(p, true)
		default:
			j.skipped.Special++
		}
	}
}

// listDir walks the directory rel (slash-separated, "" for root) under
// root, with the .gitignore rules of the directories above it, and calls
// file with each regular file it does not exclude. A repository inside is
// scanned as git sees it.
func (j *scanJob) listDir(root, rel string, levels []ignoreLevel, file func(rel string)) {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		j.fail(dir, err)
		if len(entries) == 0 {
			return
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, ".gitignore")); err == nil && fi.Mode().IsRegular() {
		// an unreadable .gitignore excludes nothing: more is scanned, not less
		if data, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err == nil {
			levels = append(levels[:len(levels):len(levels)], ignoreLevel{base: rel, rules: parseGitignore(data)})
		}
	}
	for _, e := range entries {
		name := e.Name()
		if name == ".git" {
			continue
		}
		p := path.Join(rel, name)
		isDir := e.IsDir()
		if ignoredPath(levels, p, isDir) {
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(p))
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			j.skipped.Symlinks++
		case isDir:
			if _, err := os.Lstat(filepath.Join(full, ".git")); err == nil {
				if tree, err := gitWorkTree(full); tree.inTree || err != nil {
					if j.firstVisit(full) {
						j.scanDirIn(full, tree, err) // a repository: as git sees it
					}
					continue
				}
			}
			j.listDir(root, p, levels, file)
		case t.IsRegular():
			file(p)
		default:
			j.skipped.Special++
		}
	}
}

// ignoreLevel is the rules of one .gitignore file, in the directory base
// (slash-separated, relative to the walk's root).
type ignoreLevel struct {
	base  string
	rules []ignoreRule
}

type ignoreRule struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool
}

// ignoredPath applies gitignore precedence: the deepest file first, and in
// a file the last rule that matches.
func ignoredPath(levels []ignoreLevel, p string, isDir bool) bool {
	p = bytesAsRunes(p)
	for i := len(levels) - 1; i >= 0; i-- {
		l := levels[i]
		rel := p
		if l.base != "" {
			var under bool
			if rel, under = strings.CutPrefix(p, bytesAsRunes(l.base)+"/"); !under {
				continue
			}
		}
		for k := len(l.rules) - 1; k >= 0; k-- {
			r := l.rules[k]
			if r.dirOnly && !isDir {
				continue
			}
			if r.re.MatchString(rel) {
				return !r.negate
			}
		}
	}
	return false
}

// bytesAsRunes spells each byte of s above 0x7f as the code point of the
// same number: git matches patterns byte by byte (a "?" is one byte, and
// "ü" two), and Go's regexp matches code points. Patterns are compiled
// the same way (globToRegexp).
func bytesAsRunes(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			r := make([]rune, len(s))
			for k := 0; k < len(s); k++ {
				r[k] = rune(s[k])
			}
			return string(r)
		}
	}
	return s
}

// parseGitignore reads the patterns of a .gitignore file (gitignore(5)).
// A pattern it cannot read is dropped: it would only exclude something;
// so is one git never matches (an unclosed "[", a lone "\" at the end).
func parseGitignore(data []byte) []ignoreRule {
	var rules []ignoreRule
	for _, line := range strings.Split(string(data), "\n") {
		if r, ok := compileIgnore(line); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

func compileIgnore(line string) (ignoreRule, bool) {
	var r ignoreRule
	line = strings.TrimSuffix(line, "\r")
	// trailing spaces are dropped unless a backslash quotes them
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if line == "" || line[0] == '#' {
		return r, false
	}
	if line[0] == '!' {
		r.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly = true
		line = line[:len(line)-1]
	}
	if line == "" {
		return r, false
	}
	// a slash at the start or in the middle anchors the pattern to the
	// .gitignore's directory; otherwise it matches at any depth
	anchored := strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	var b strings.Builder
	b.WriteString("(?s)^") // "." matches a newline in a name too
	if !anchored {
		b.WriteString("(?:.*/)?")
	}
	if !globToRegexp(&b, line) {
		return r, false
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return r, false
	}
	r.re = re
	return r, true
}

// globToRegexp writes the wildmatch pattern g (with "/" special: * and ?
// stay inside one name, ** crosses directories) as a regular expression
// over bytesAsRunes of a path. It reports false for a pattern git never
// matches: one with an unclosed bracket expression, or that ends in an
// unescaped backslash.
func globToRegexp(b *strings.Builder, g string) bool {
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				startsName := i == 0 || g[i-1] == '/'
				j := i
				for j < len(g) && g[j] == '*' {
					j++
				}
				switch {
				case startsName && j == len(g): // "**" at the end: everything inside
					b.WriteString(".*")
					i = j - 1
					continue
				case startsName && g[j] == '/': // "**/": any number of directories
					b.WriteString("(?:.*/)?")
					i = j
					continue
				}
				b.WriteString("[^/]*") // other runs of stars are one star
				i = j - 1
				continue
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			n := classToRegexp(b, g[i:])
			if n == 0 {
				return false
			}
			i += n - 1
		case '\\':
			if i+1 == len(g) {
				return false
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rune(g[i]))))
		default:
			b.WriteString(regexp.QuoteMeta(string(rune(c))))
		}
	}
	return true
}

// classToRegexp writes the bracket expression at the start of g and returns
// its length, or 0 when it is not closed (then git's wildmatch never
// matches the pattern).
func classToRegexp(b *strings.Builder, g string) int {
	i := 1
	var out strings.Builder
	out.WriteByte('[')
	if i < len(g) && (g[i] == '!' || g[i] == '^') {
		out.WriteByte('^')
		i++
	}
	negated := i > 1
	first := true
	for i < len(g) {
		c := g[i]
		switch {
		case c == ']' && !first:
			if negated {
				out.WriteByte('/') // nothing in a pattern matches a slash but a slash
			}
			out.WriteByte(']')
			b.WriteString(out.String())
			return i + 1
		case c == '[' && i+1 < len(g) && g[i+1] == ':':
			// "[:name:]" up to the next "]"; without ":" before that "]",
			// the "[" is one more character of the set, as in wildmatch
			end := strings.IndexByte(g[i+2:], ']')
			if end < 0 {
				return 0
			}
			if end > 0 && g[i+2+end-1] == ':' {
				out.WriteString(g[i : i+2+end+1])
				i += 2 + end + 1
				first = false
				continue
			}
			classChar(&out, c)
		case c == '\\' && i+1 < len(g):
			i++
			classChar(&out, g[i])
		case c == '-':
			out.WriteByte('-')
		default:
			classChar(&out, c)
		}
		first = false
		i++
	}
	return 0
}

// classChar writes the byte c (as bytesAsRunes spells it) as a literal
// inside a character class.
func classChar(b *strings.Builder, c byte) {
	if c < 0x80 && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
		b.WriteByte('\\')
	}
	b.WriteRune(rune(c))
}
