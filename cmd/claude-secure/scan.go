package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/spf13/cobra"
)

type scanOptions struct {
	f      *factory
	paths  []string // files and directories; none or "-" is standard input
	staged bool     // the staged changes (git index) instead of paths
	format string   // text, json or sarif
}

var scanFormats = []string{"text", "json", "sarif"}

func newCmdScan(f *factory, runF func(*scanOptions) error) *cobra.Command {
	opts := &scanOptions{f: f}
	var asJSON bool
	var format string
	cmd := &cobra.Command{
		Use:   "scan [PATH...]",
		Short: "Report what would be masked in files, directories or staged changes, without the values",
		Long: `Report what mask would replace: the file, line:column, kind and rule of each
identifier, and counts per kind. Values are never printed, in any format.

PATH is a file, a directory or - (standard input, also the default). A
directory is read recursively the way git sees it: inside a git work tree,
the tracked files and the untracked ones .gitignore does not exclude (git
ls-files), and git failing there (or missing) is an error for that
directory, never a reason to read it another way; outside any work tree,
every file except what the .gitignore files under the directory exclude, and
never .git. A directory in a work tree that git ignores is read anyway when
it is named: its tracked files and every untracked one, whatever the
.gitignore files say. Files with a NUL byte in their first 8 KB (binary
files), symbolic links (never followed) and special files found in a
directory are skipped and counted on standard error; a file named on the
command line is always read.

--staged reads what the next commit would record: the staged (index) content
of each added, copied, modified, renamed or retyped file, and reports only
findings on the lines the staged diff adds, with their line numbers in the
staged file. A staged binary file (a NUL byte in its first 8 KB) is read
whole, every finding in it reported: git cannot say which of its lines are
new. PATHs given with --staged are git pathspecs that limit it. Outside a
git work tree, --staged is an error.

--format text (the default) prints PATH:LINE:COLUMN: KIND (HOW), one per
line, HOW being how it was found (shape, context, prose, arn, host, url,
pair) or the configuration's rule; columns count bytes, and a PATH holding
a control character, a double quote or a backslash is quoted ("a\nb.txt"),
so no name can forge a line;
--format json (or --json) one document with every finding, counts per kind,
skipped files and read errors; --format sarif a SARIF 2.1.0 log for code
scanning (columns count Unicode code points; file URIs are relative to the
top of the git work tree the scan runs in, else to the current directory,
and a file outside it is an absolute file:// URI).

Exit status: 0 when nothing is found, 1 when anything is found, 2 on an
error (a usage error, a file that cannot be read, git failing in a work tree
or for --staged). A read error is named on standard error and never taken
for a finding nor for a clean result: the other files are still scanned and
reported, then the exit status is 2.`,
		Example: `  claude-secure scan notes.md deploy/               # files and directories
  git diff | claude-secure scan --json              # standard input

  # CI job: fail when the repository holds an identifier (1) or a file cannot be read (2)
  claude-secure scan .

  # pre-commit hook: refuse a commit whose staged changes add an identifier
  printf '#!/bin/sh\nexec claude-secure scan --staged\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit

  # GitHub Actions, findings shown in code scanning (permissions: security-events: write)
  #   - run: claude-secure scan --format sarif . > claude-secure.sarif
  #   - uses: github/codeql-action/upload-sarif@v3
  #     if: always()
  #     with: { sarif_file: claude-secure.sarif }`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.paths = args
			fm, err := scanFormat(format, cmd.Flags().Changed("format"), asJSON)
			if err != nil {
				return err
			}
			opts.format = fm
			if opts.staged {
				for _, p := range args {
					if p == "-" {
						return usagef("--staged reads the git index, not standard input: give it no - argument")
					}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			err = scanRun(opts)
			var se *silentExit
			if err != nil && !errors.As(err, &se) {
				return &codeError{code: exitUsage, err: err}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.staged, "staged", false, "scan the lines the staged changes add (for a pre-commit hook)")
	fl.StringVar(&format, "format", "text", "output format: text, json or sarif")
	fl.BoolVar(&asJSON, "json", false, "print one JSON document for machines (--format json)")
	return cmd
}

// scanFormat resolves --format and --json, which must not disagree.
func scanFormat(format string, formatSet, asJSON bool) (string, error) {
	known := false
	for _, k := range scanFormats {
		known = known || format == k
	}
	if !known {
		return "", usagef("invalid argument %q for --format: want one of %s", format, strings.Join(scanFormats, ", "))
	}
	if asJSON {
		if formatSet && format != "json" {
			return "", usagef("--json and --format %s disagree; give one of them", format)
		}
		return "json", nil
	}
	return format, nil
}

// scanFinding is one finding as the JSON document shows it.
type scanFinding struct {
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Column      int    `json:"column"` // 1-based, in bytes
	Length      int    `json:"length"` // in bytes
	Kind        string `json:"kind"`
	Rule        string `json:"rule"`
	Description string `json:"description"`

	// for SARIF: the region in Unicode code points
	endLine, charColumn, charEndColumn int
}

type scanError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

type scanSkipped struct {
	Binary   int `json:"binary"`
	Symlinks int `json:"symlinks"`
	Special  int `json:"special"`
}

// scanJob scans a set of inputs and keeps what the report needs.
type scanJob struct {
	f      *factory
	e      *mask.Engine
	format string
	out    *bufio.Writer
	desc   map[string]string // kind → description

	buf      []byte
	seen     map[string]bool // files (absolute paths) already scanned
	seenDirs map[string]bool

	findings []scanFinding // json and sarif
	counts   map[string]int
	total    int
	files    int // files scanned
	hits     int // files with findings
	skipped  scanSkipped
	errs     []scanError

	cwd       string // the current directory
	srcRoot   string // where SARIF's relative URIs start: the work tree's top, else cwd
	srcPrefix string // the current directory under srcRoot, slash-separated ("" for srcRoot)
}

func scanRun(opts *scanOptions) error {
	f := opts.f
	cfg, err := f.config()
	if err != nil {
		return err
	}
	// scanning needs no store: detection never depends on what was issued
	e, err := mask.New(make([]byte, 32), mask.NewMemoryMappings(), cfg)
	if err != nil {
		return err
	}
	j := &scanJob{
		f: f, e: e, format: opts.format, out: bufio.NewWriter(f.Out),
		desc: map[string]string{}, buf: make([]byte, 256<<10),
		seen: map[string]bool{}, seenDirs: map[string]bool{}, counts: map[string]int{},
	}
	for _, r := range mask.Rules() {
		j.desc[r.Kind.String()] = r.Description
	}
	j.cwd, _ = os.Getwd()
	j.srcRoot = j.cwd
	if opts.format == "sarif" && !opts.staged {
		j.srcRoot, j.srcPrefix = sarifRoot(j.cwd)
	}
	if opts.staged {
		if err := j.scanStaged(opts.paths); err != nil {
			return err
		}
	} else {
		paths := opts.paths
		if len(paths) == 0 {
			paths = []string{"-"}
		}
		for _, p := range paths {
			j.scanPath(p)
		}
	}
	return j.finish()
}

// fail records that name could not be read, and says so now.
func (j *scanJob) fail(name string, err error) {
	msg := readErrorText(err)
	j.errs = append(j.errs, scanError{Path: name, Error: msg})
	fmt.Fprintf(j.f.Err, "claude-secure: error: cannot read %s: %s\n", quotePath(name), msg)
}

// quotePath is a path as a line of text shows it: quoted (Go's quoting,
// close to git's core.quotePath) when it holds a control or other
// unprintable character, a double quote, a backslash or bytes that are not
// UTF-8, so that no name can forge a line of output.
func quotePath(p string) string {
	for _, r := range p {
		if r == '"' || r == '\\' || r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

// readErrorText is the reason of err without the path it repeats.
func readErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return lowerFirst(err.Error())
}

// scanFile scans one input. skipBinary skips it when its first 8 KB hold a
// NUL byte (a binary file); added, when not nil, keeps only findings that
// touch those lines (a staged diff's additions), unless the file is binary:
// git cannot say which lines of a binary file are new, so all of it counts.
// A read error is recorded, and the findings before it are kept.
func (j *scanJob) scanFile(name string, r io.Reader, skipBinary bool, added []lineRange) {
	const sniff = 8 << 10
	n, err := io.ReadAtLeast(r, j.buf, sniff)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil && n == 0 {
		j.fail(name, err)
		return
	}
	if bytes.IndexByte(j.buf[:min(n, sniff)], 0) >= 0 {
		if skipBinary {
			j.skipped.Binary++
			return
		}
		added = nil
	}
	var pos posTracker
	var found []scanFinding
	s := j.e.NewScanner(func(fd mask.Finding) {
		sf := scanFinding{Path: name, Line: fd.Line, Column: fd.Column, Length: fd.Length,
			Kind: fd.Kind, Rule: fd.Rule, Description: j.describe(fd.Kind)}
		end := fd.Offset + int64(fd.Length)
		sf.endLine = fd.Line + pos.newlines(fd.Offset, end)
		sf.charColumn = pos.charColumn(fd.Offset)
		sf.charEndColumn = pos.charColumn(end)
		if added == nil || touches(added, sf.Line, sf.endLine) {
			found = append(found, sf)
		}
	})
	feed := func(p []byte) error {
		pos.feed(p)
		if _, err := s.Write(p); err != nil {
			return err
		}
		pos.prune(pos.n - int64(s.Pending()))
		return nil
	}
	var scanErr error
	if n > 0 {
		scanErr = feed(j.buf[:n])
	}
	for scanErr == nil && err == nil {
		var k int
		k, err = r.Read(j.buf)
		if k > 0 {
			scanErr = feed(j.buf[:k])
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if scanErr == nil {
		_, scanErr = s.Flush()
	}
	j.files++
	j.add(found)
	switch {
	case err != nil:
		j.fail(name, err)
	case scanErr != nil:
		j.fail(name, scanErr)
	}
}

func (j *scanJob) describe(kind string) string {
	if d, ok := j.desc[kind]; ok {
		return d
	}
	return "found by a rule of the configuration file"
}

// add reports one file's findings: text at once, the rest at the end.
func (j *scanJob) add(found []scanFinding) {
	if len(found) == 0 {
		return
	}
	sort.SliceStable(found, func(a, b int) bool {
		if found[a].Line != found[b].Line {
			return found[a].Line < found[b].Line
		}
		return found[a].Column < found[b].Column
	})
	j.hits++
	for _, sf := range found {
		j.counts[sf.Kind]++
		j.total++
		if j.format == "text" {
			// "ec2-instance (shape)": the kind, and how it was found
			// (a built-in rule is named kind/how) or the configuration's rule
			fmt.Fprintf(j.out, "%s:%d:%d: %s (%s)\n", quotePath(sf.Path), sf.Line, sf.Column, sf.Kind, strings.TrimPrefix(sf.Rule, sf.Kind+"/"))
		}
	}
	if j.format != "text" {
		j.findings = append(j.findings, found...)
	}
}

// finish writes the document (json, sarif), the summary on standard error
// and decides the exit status.
func (j *scanJob) finish() error {
	var err error
	switch j.format {
	case "json":
		findings := j.findings
		if findings == nil {
			findings = []scanFinding{}
		}
		errs := j.errs
		if errs == nil {
			errs = []scanError{}
		}
		enc := json.NewEncoder(j.out)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Files    int            `json:"files"`
			Total    int            `json:"total"`
			Counts   map[string]int `json:"counts"`
			Skipped  scanSkipped    `json:"skipped"`
			Errors   []scanError    `json:"errors"`
			Findings []scanFinding  `json:"findings"`
		}{j.files, j.total, j.counts, j.skipped, errs, findings})
	case "sarif":
		err = j.writeSARIF()
	}
	if ferr := j.out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	w := j.f.Err
	var skipped []string
	if n := j.skipped.Binary; n > 0 {
		skipped = append(skipped, countOf(n, "binary file", "binary files"))
	}
	if n := j.skipped.Symlinks; n > 0 {
		skipped = append(skipped, countOf(n, "symbolic link", "symbolic links")+" (not followed)")
	}
	if n := j.skipped.Special; n > 0 {
		skipped = append(skipped, countOf(n, "special file", "special files"))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "claude-secure: skipped %s\n", strings.Join(skipped, ", "))
	}
	if j.total == 0 {
		if j.files == 1 {
			fmt.Fprintln(w, "claude-secure: nothing to mask")
		} else {
			fmt.Fprintf(w, "claude-secure: nothing to mask in %s\n", countOf(j.files, "file", "files"))
		}
	} else {
		kinds := make([]string, 0, len(j.counts))
		for k := range j.counts {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%d %s", j.counts[k], k)
		}
		where := ""
		if j.files != 1 {
			where = fmt.Sprintf(" (in %d of %s)", j.hits, countOf(j.files, "file", "files"))
		}
		fmt.Fprintf(w, "claude-secure: %d to mask: %s%s\n", j.total, strings.Join(parts, ", "), where)
	}
	if len(j.errs) > 0 {
		fmt.Fprintf(w, "claude-secure: error: %s could not be read; this report is incomplete\n", countOf(len(j.errs), "input", "inputs"))
		return &silentExit{code: exitUsage} // 2: an error, never a finding nor a clean result
	}
	if j.total > 0 {
		return &silentExit{code: exitError}
	}
	return nil
}

// countOf is "1 file", "2 files".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// scanPath scans a path named on the command line: standard input, a file
// (whatever it is: a named pipe too, and symbolic links are followed) or a
// directory.
func (j *scanJob) scanPath(p string) {
	if p == "-" {
		if j.seen["-"] {
			return
		}
		j.seen["-"] = true
		j.scanFile("-", j.f.In, false, nil)
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		j.fail(p, err)
		return
	}
	if fi.IsDir() {
		j.scanDir(p)
		return
	}
	j.openAndScan(p, false)
}

// openAndScan scans the file at p unless it was scanned already.
func (j *scanJob) openAndScan(p string, skipBinary bool) {
	key := p
	if abs, err := filepath.Abs(p); err == nil {
		key = abs
	}
	if j.seen[key] {
		return
	}
	j.seen[key] = true
	fh, err := os.Open(p)
	if err != nil {
		j.fail(p, err)
		return
	}
	defer fh.Close()
	j.scanFile(p, fh, skipBinary, nil)
}

// posTracker follows the input of one scan to turn offsets into line ends
// and code-point columns. It keeps a window of the input, from the first
// byte the scanner may still report (pruned to what it holds back) to the
// end of what it was given, with the newlines in it and the count of UTF-8
// continuation bytes every posStep bytes; before the window, only where
// the line holding it starts. Its memory follows what the scanner holds,
// whatever the length of a line.
type posTracker struct {
	n         int64        // bytes seen
	base      int64        // the window starts here
	win       []byte       // the input from base to n
	baseCont  int64        // continuation bytes before base
	cont      int64        // continuation bytes before n
	firstMark int64        // the first multiple of posStep at or after base
	marks     []int64      // continuation bytes before firstMark, firstMark+posStep, ...
	nl        []posNewline // the newlines in the window
	lineStart int64        // where the line holding base starts
	lineCont  int64        // continuation bytes before lineStart
}

type posNewline struct {
	off  int64
	cont int64 // continuation bytes before off
}

const posStep = 1024

func (p *posTracker) feed(b []byte) {
	p.win = append(p.win, b...)
	if ascii(b) {
		for m := (p.n + posStep - 1) / posStep * posStep; m < p.n+int64(len(b)); m += posStep {
			p.marks = append(p.marks, p.cont)
		}
		for i := 0; ; {
			k := bytes.IndexByte(b[i:], '\n')
			if k < 0 {
				break
			}
			p.nl = append(p.nl, posNewline{p.n + int64(i+k), p.cont})
			i += k + 1
		}
		p.n += int64(len(b))
		return
	}
	for i, c := range b {
		off := p.n + int64(i)
		if off%posStep == 0 {
			p.marks = append(p.marks, p.cont)
		}
		switch {
		case c == '\n':
			p.nl = append(p.nl, posNewline{off, p.cont})
		case c&0xC0 == 0x80:
			p.cont++
		}
	}
	p.n += int64(len(b))
}

// ascii reports whether b holds no byte above 0x7f.
func ascii(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// clamp keeps off in the window.
func (p *posTracker) clamp(off int64) int64 { return min(max(off, p.base), p.n) }

// lineStartOf is the offset where the line holding off starts, and the
// continuation bytes before it.
func (p *posTracker) lineStartOf(off int64) (int64, int64) {
	i := sort.Search(len(p.nl), func(i int) bool { return p.nl[i].off >= off })
	if i == 0 {
		return p.lineStart, p.lineCont
	}
	return p.nl[i-1].off + 1, p.nl[i-1].cont
}

// prune forgets the input before off: nothing will be reported there any
// more.
func (p *posTracker) prune(off int64) {
	off = p.clamp(off)
	if off == p.base {
		return
	}
	p.lineStart, p.lineCont = p.lineStartOf(off)
	p.baseCont = p.contBefore(off)
	i := sort.Search(len(p.nl), func(i int) bool { return p.nl[i].off >= off })
	p.nl = append(p.nl[:0], p.nl[i:]...)
	first := (off + posStep - 1) / posStep * posStep
	drop := min(int((first-p.firstMark)/posStep), len(p.marks))
	p.marks = append(p.marks[:0], p.marks[drop:]...)
	p.firstMark = first
	p.win = append(p.win[:0], p.win[off-p.base:]...)
	p.base = off
}

// newlines counts the newlines in [from, to).
func (p *posTracker) newlines(from, to int64) int {
	a := sort.Search(len(p.nl), func(i int) bool { return p.nl[i].off >= from })
	b := sort.Search(len(p.nl), func(i int) bool { return p.nl[i].off >= to })
	return b - a
}

// contBefore counts the continuation bytes before off.
func (p *posTracker) contBefore(off int64) int64 {
	return p.contFrom(p.base, p.baseCont, off)
}

// contFrom counts the continuation bytes before off, knowing c of them
// before from (in the window, at or before off): from there or from the
// last mark before off, whichever is nearer, so at most posStep bytes to
// count.
func (p *posTracker) contFrom(from, c, off int64) int64 {
	off = p.clamp(off)
	if from < p.base || from > off {
		from, c = p.base, p.baseCont
	}
	if off >= p.firstMark && len(p.marks) > 0 {
		k := min((off-p.firstMark)/posStep, int64(len(p.marks)-1))
		if m := p.firstMark + k*posStep; m > from {
			from, c = m, p.marks[k]
		}
	}
	for _, x := range p.win[from-p.base : off-p.base] {
		if x&0xC0 == 0x80 {
			c++
		}
	}
	return c
}

// charColumn is the 1-based column of off in Unicode code points.
func (p *posTracker) charColumn(off int64) int {
	ls, lc := p.lineStartOf(off)
	return int(off-ls-(p.contFrom(ls, lc, off)-lc)) + 1
}

// footprint is the memory the tracker holds, in bytes.
func (p *posTracker) footprint() int {
	return cap(p.win) + cap(p.marks)*8 + cap(p.nl)*16
}

// lineRange is a run of lines, first to last.
type lineRange struct{ first, last int }

// touches reports whether lines first..last meet one of the ranges.
func touches(rs []lineRange, first, last int) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last >= first })
	return i < len(rs) && rs[i].first <= last
}
