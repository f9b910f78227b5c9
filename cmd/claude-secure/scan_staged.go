package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// stagedDiffArgs select the changes --staged reads: added, copied,
// modified, renamed (what the rename changes) and retyped files. Renames
// are found whatever diff.renames says, so the listing and the diff agree,
// and no configuration (external diff, textconv, color, relative paths)
// changes what git prints.
var stagedDiffArgs = []string{"diff", "--cached", "-M", "--diff-filter=ACMRT", "--no-relative", "--no-ext-diff", "--no-textconv", "--no-color"}

// stagedFile is one file of the staged changes.
type stagedFile struct {
	path string // relative to the top of the work tree
	mode string // in the index: 100644, 100755, 120000 (a link), 160000 (a submodule)
	blob string // the staged content's object name
}

// scanStaged scans the staged content of the files the next commit
// changes, reporting only what is on the lines it adds.
func (j *scanJob) scanStaged(pathspecs []string) error {
	top, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return withHint(errors.New("scan --staged needs git, and git is not on PATH"), "install git, or scan files and directories instead")
		}
		if notARepository(err) {
			return withHint(errors.New("scan --staged reads the git index, and this is not a git work tree"),
				"run it inside a git repository, or scan files and directories instead")
		}
		return withHint(fmt.Errorf("scan --staged cannot read the git repository: %s", j.gitReason(err)), j.gitHint(".", err))
	}
	j.srcRoot = strings.TrimSuffix(string(top), "\n")

	spec := append([]string{"--"}, pathspecs...)
	raw, err := gitOutput("", append(append(append([]string{}, stagedDiffArgs...), "--raw", "-z", "--no-abbrev"), spec...)...)
	if err != nil {
		return fmt.Errorf("cannot list the staged changes: %s", j.gitReason(err))
	}
	files, err := parseRawDiff(raw)
	if err != nil {
		return fmt.Errorf("cannot list the staged changes: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	added, err := stagedAdditions(append(append(append([]string{}, stagedDiffArgs...),
		"-U0", "--text", "--src-prefix=a/", "--dst-prefix=b/"), spec...))
	if err != nil {
		return fmt.Errorf("cannot read the staged changes: %s", j.gitReason(err))
	}
	var todo []stagedFile
	listed := map[string]bool{}
	for _, sf := range files {
		listed[sf.path] = true
		// a submodule (160000) is its own repository, with its own hook
		if sf.mode != "160000" && len(added[sf.path]) > 0 {
			todo = append(todo, sf)
		}
	}
	// added lines under a name the listing does not hold were misread: an
	// error, never a clean result
	var unmatched []string
	for p, rs := range added {
		if len(rs) > 0 && !listed[p] {
			unmatched = append(unmatched, p)
		}
	}
	sort.Strings(unmatched)
	for _, p := range unmatched {
		j.fail(p, errors.New("its staged diff names no staged file"))
	}
	return j.scanBlobs(todo, added)
}

// parseRawDiff reads `git diff --raw -z --no-abbrev`.
func parseRawDiff(raw []byte) ([]stagedFile, error) {
	fields := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	var files []stagedFile
	for i := 0; i < len(fields); i++ {
		meta := fields[i]
		if meta == "" {
			continue
		}
		m := strings.Fields(strings.TrimPrefix(meta, ":"))
		if !strings.HasPrefix(meta, ":") || len(m) != 5 {
			return nil, fmt.Errorf("unexpected line from git diff --raw")
		}
		status := m[4]
		paths := 1
		if status[0] == 'R' || status[0] == 'C' {
			paths = 2
		}
		if i+paths >= len(fields) || fields[i+paths] == "" {
			return nil, fmt.Errorf("unexpected end of git diff --raw")
		}
		i += paths
		files = append(files, stagedFile{path: fields[i], mode: m[1], blob: m[3]})
	}
	return files, nil
}

// stagedAdditions runs git diff (a patch with no context) and returns the
// lines each file gains, by the file's path in the index. A file the patch
// names with no added line maps to nil.
func stagedAdditions(args []string) (map[string][]lineRange, error) {
	cmd := gitCommand("", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, newGitError(args, err, nil)
	}
	added, perr := parsePatch(stdout)
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return nil, newGitError(args, err, stderr.Bytes())
	}
	return added, perr
}

// parsePatch reads a unified diff and returns the added lines per new-side
// path. Content lines are counted from the hunk headers, so a content line
// that looks like a header is never read as one.
func parsePatch(r io.Reader) (map[string][]lineRange, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	added := map[string][]lineRange{}
	cur, inHeader := "", false
	oldLeft, newLeft, newLine := 0, 0, 0
	for {
		line, err := readLinePrefix(br)
		if err == io.EOF {
			if oldLeft > 0 || newLeft > 0 {
				return nil, errors.New("git diff: the last hunk ends early")
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if oldLeft > 0 || newLeft > 0 {
			c := byte(' ') // diff.suppressBlankEmpty writes an empty context line as ""
			if len(line) > 0 {
				c = line[0]
			}
			switch c {
			case ' ':
				oldLeft--
				newLeft--
				newLine++
			case '-':
				oldLeft--
			case '+':
				if cur != "" {
					rs := added[cur]
					if k := len(rs); k > 0 && rs[k-1].last == newLine-1 {
						rs[k-1].last = newLine
					} else {
						rs = append(rs, lineRange{newLine, newLine})
					}
					added[cur] = rs
				}
				newLeft--
				newLine++
			case '\\': // "\ No newline at end of file"
			default:
				return nil, errors.New("git diff: a hunk holds an unexpected line")
			}
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("diff --git ")):
			cur, inHeader = "", true
		case inHeader && bytes.HasPrefix(line, []byte("+++ ")):
			name, err := patchPath(string(line[4:]))
			if err != nil {
				return nil, err
			}
			cur = name
			if cur != "" {
				if _, ok := added[cur]; !ok {
					added[cur] = nil
				}
			}
		case bytes.HasPrefix(line, []byte("@@ ")):
			inHeader = false
			var ok bool
			oldLeft, newLine, newLeft, ok = parseHunkHeader(string(line))
			if !ok {
				return nil, errors.New("git diff: a hunk header could not be read")
			}
		}
	}
	return added, nil
}

// readLinePrefix returns a line without its newline, cut at 64 KB (only
// the start of a line matters here); the rest of a longer line is skipped.
func readLinePrefix(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		head := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return head, nil
	}
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	return bytes.TrimSuffix(line, []byte("\n")), err
}

// patchPath reads the name on a "+++ " line: b/NAME, "b/NAME" quoted the
// way git quotes (C escapes, octal bytes), or /dev/null (""). Git ends a
// name holding a space with a tab.
func patchPath(s string) (string, error) {
	s = strings.TrimSuffix(s, "\t") // a name with a tab of its own is quoted
	if s == "/dev/null" {
		return "", nil
	}
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return "", errors.New("git diff: a quoted file name could not be read")
		}
		s = u
	}
	if !strings.HasPrefix(s, "b/") {
		return "", errors.New("git diff: a file name without its b/ prefix")
	}
	return s[2:], nil
}

// parseHunkHeader reads "@@ -a[,b] +c[,d] @@": b old lines, and d new lines
// from line c.
func parseHunkHeader(h string) (oldCount, newStart, newCount int, ok bool) {
	f := strings.Fields(h)
	if len(f) < 4 || f[0] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, 0, false
	}
	_, oldCount, ok1 := hunkRange(f[1][1:])
	newStart, newCount, ok2 := hunkRange(f[2][1:])
	return oldCount, newStart, newCount, ok1 && ok2
}

func hunkRange(s string) (start, count int, ok bool) {
	a, b, found := strings.Cut(s, ",")
	start, err := strconv.Atoi(a)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	count = 1
	if found {
		if count, err = strconv.Atoi(b); err != nil || count < 0 {
			return 0, 0, false
		}
	}
	return start, count, true
}

// scanBlobs reads the staged content of files through one git cat-file.
func (j *scanJob) scanBlobs(files []stagedFile, added map[string][]lineRange) error {
	if len(files) == 0 {
		return nil
	}
	cmd := gitCommand("", "cat-file", "--batch")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot read the staged content: %s", j.gitReason(newGitError([]string{"cat-file"}, err, nil)))
	}
	go func() {
		w := bufio.NewWriter(in)
		for _, sf := range files {
			fmt.Fprintln(w, sf.blob)
		}
		w.Flush()
		in.Close()
	}()
	br := bufio.NewReaderSize(out, 64<<10)
	var readErr error
	for i, sf := range files {
		header, err := br.ReadString('\n')
		if err != nil {
			readErr = err
			for _, rest := range files[i:] {
				j.fail(rest.path, errors.New("git cat-file stopped early"))
			}
			break
		}
		f := strings.Fields(header)
		if len(f) != 3 || f[0] != sf.blob || f[1] != "blob" {
			j.fail(sf.path, errors.New("its staged content is missing from the repository"))
			continue
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || size < 0 {
			readErr = errors.New("git cat-file: unexpected size")
			j.fail(sf.path, readErr)
			break
		}
		content := io.LimitReader(br, size)
		j.scanFile(sf.path, content, false, added[sf.path])
		if _, err := io.Copy(io.Discard, content); err != nil {
			readErr = err
			break
		}
		if c, err := br.ReadByte(); err != nil || c != '\n' {
			readErr = errors.New("git cat-file: unexpected output")
			break
		}
	}
	io.Copy(io.Discard, br)
	if err := cmd.Wait(); err != nil && readErr == nil {
		readErr = errors.New(j.gitReason(newGitError([]string{"cat-file"}, err, stderr.Bytes())))
	}
	if readErr != nil {
		return fmt.Errorf("cannot read the staged content: %w", readErr)
	}
	return nil
}
