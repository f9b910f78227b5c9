package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// gitError is git failing. Its text is ours alone: git quotes
// configuration values and paths in its messages, and those may hold a
// value to mask, so what git wrote is kept apart and shown only through
// scanJob.gitReason, once the scanner found nothing in it.
type gitError struct {
	op     string // what ran: "git ls-files"
	state  string // how it ended: "exit status 128"; "" when it ended well but complained
	stderr []byte // what git wrote on standard error
	err    error  // git could not run at all (not on PATH, ...)
}

func (e *gitError) Error() string {
	switch {
	case errors.Is(e.err, exec.ErrNotFound):
		return "git is not on PATH"
	case e.err != nil:
		return e.op + " could not run"
	case e.state == "":
		return e.op + " reported a problem"
	default:
		return fmt.Sprintf("%s failed (%s)", e.op, e.state)
	}
}

func (e *gitError) Unwrap() error { return e.err }

// message is the first line git wrote on standard error, without its
// "fatal: " or "error: ".
func (e *gitError) message() string {
	for _, line := range strings.Split(string(e.stderr), "\n") {
		line = strings.TrimSpace(line)
		for _, p := range []string{"fatal: ", "error: ", "warning: "} {
			line = strings.TrimPrefix(line, p)
		}
		if line != "" {
			return line
		}
	}
	return ""
}

// gitCommand is git run in dir ("" for the current directory), its
// messages in English so that they can be told apart.
func gitCommand(dir string, args ...string) *exec.Cmd {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANGUAGE=C")
	return cmd
}

// gitOutput runs git in dir and returns what it printed; a failure is a
// *gitError.
func gitOutput(dir string, args ...string) ([]byte, error) {
	cmd := gitCommand(dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, newGitError(args, err, stderr.Bytes())
	}
	return out, nil
}

// newGitError describes git (args) ending with err.
func newGitError(args []string, err error, stderr []byte) *gitError {
	ge := &gitError{op: "git", stderr: stderr}
	if len(args) > 0 {
		ge.op += " " + args[0]
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ge.state = ee.ProcessState.String()
	} else {
		ge.err = err
	}
	return ge
}

// gitReason is the text of an error of git: ours, and git's first line
// when it holds nothing the scanner finds.
func (j *scanJob) gitReason(err error) string {
	var ge *gitError
	if !errors.As(err, &ge) {
		return err.Error()
	}
	s := ge.Error()
	if m := ge.message(); m != "" {
		if j.showable(m) {
			s += ": " + m
		} else {
			s += " (git's message is not shown: it holds a value to mask)"
		}
	}
	return s
}

// showable reports whether text from elsewhere may be printed: one line
// of printable characters in which the scanner finds nothing.
func (j *scanJob) showable(s string) bool {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	found, err := j.e.Holds([]byte(s))
	return err == nil && !found
}
