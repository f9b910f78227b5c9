// Package shellwrap runs the child process of `claude-secure run` the way a
// shell would, and prints the shell integration snippets.
//
// Start with [Run]: it starts the command with the terminal's standard
// streams, keeps it in the terminal's foreground process group (so Ctrl-C
// and Ctrl-Z reach it directly), forwards the termination signals the
// wrapper receives, and turns the way it ended into an exit code.
package shellwrap

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Exit codes a shell would give.
const (
	ExitNotFound      = 127
	ExitNotExecutable = 126
)

// Command is what to run.
type Command struct {
	Path   string
	Args   []string // without the program name
	Env    []string
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
}

// StartError explains why the child did not start, with the exit code a
// shell would use.
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Find returns the path of the command a shell would run for name, or why
// none would run, with the exit code a shell would use.
func Find(name string) (string, *StartError) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return "", &StartError{Code: ExitNotFound, Err: errors.New("command not found: " + name)}
	case errors.Is(err, fs.ErrPermission):
		return "", &StartError{Code: ExitNotExecutable, Err: errors.New("command not executable: " + name)}
	}
	return "", &StartError{Code: ExitNotExecutable, Err: err}
}

// Run runs the command and returns its exit code: its own code, 128+N when
// a signal N ended it. The child stays in our process group, which is the
// terminal's foreground group: the terminal sends SIGINT and SIGTSTP to
// both, so the wrapper lets Ctrl-C pass it by (the child decides what it
// means) and stops and resumes with the child on Ctrl-Z and fg. SIGTERM,
// SIGHUP and SIGQUIT sent to the wrapper are forwarded. Run returns only
// when the child has exited, so it is never left behind.
func Run(c Command) (int, error) {
	path, serr := Find(c.Path)
	if serr != nil {
		return serr.Code, serr
	}
	subreaper()
	cmd := exec.Command(path, c.Args...)
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	guard(cmd)

	// Catch (not ignore: an ignored signal stays ignored in the child
	// after exec) what the terminal sends to the child as well, and drop
	// it; relay what is sent to us alone.
	drop := make(chan os.Signal, 4)
	signal.Notify(drop, syscall.SIGINT)
	defer signal.Stop(drop)
	relay := make(chan os.Signal, 4)
	signal.Notify(relay, forwarded...)
	defer signal.Stop(relay)

	if err := cmd.Start(); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return ExitNotExecutable, &StartError{Code: ExitNotExecutable, Err: errors.New("command not executable: " + c.Path)}
		}
		return ExitNotExecutable, &StartError{Code: ExitNotExecutable, Err: err}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-relay:
				_ = cmd.Process.Signal(s)
			case <-drop:
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	return exitCode(cmd.ProcessState, err), nil
}
