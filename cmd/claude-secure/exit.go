package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// exitCode is the process exit status. Every exit status is decided here.
type exitCode int

const (
	exitOK    exitCode = 0
	exitError exitCode = 1 // our own errors, and "found something" for scan
	exitUsage exitCode = 2
)

// usageError marks a command-line mistake.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// silentExit ends the program with a code and no message (scan found
// something and already said so).
type silentExit struct{ code exitCode }

func (e *silentExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// codeError ends the program with a given code after printing its message.
type codeError struct {
	code exitCode
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// hintError carries a hint line printed after the error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// report prints err the way every claude-secure message looks and returns
// the exit code it stands for; a usage error points at help, the help of
// the command that was run.
func report(w io.Writer, err error, help string) exitCode {
	if err == nil {
		return exitOK
	}
	var se *silentExit
	if errors.As(err, &se) {
		return se.code
	}
	fmt.Fprintf(w, "claude-secure: error: %s\n", lowerFirst(err.Error()))
	var he *hintError
	if errors.As(err, &he) && he.hint != "" {
		fmt.Fprintf(w, "claude-secure: hint: %s\n", he.hint)
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(w, "claude-secure: hint: run '%s' for usage\n", help)
		return exitUsage
	}
	return exitError
}

// isCobraUsage recognizes the errors cobra returns for bad flags and
// arguments.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "accepts ", "requires at least",
		"requires at most", "flag needs an argument", "invalid argument", "bad flag syntax"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func lowerFirst(s string) string {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return s
	}
	// keep acronyms (OS, JSON, AWS) as they are
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
