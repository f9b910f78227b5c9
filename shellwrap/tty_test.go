//go:build linux

package shellwrap

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// The test binary doubles as the wrapper: SHELLWRAP_HELPER runs a command
// through Run and exits with the code Run returns.
func TestMain(m *testing.M) {
	if script := os.Getenv("SHELLWRAP_HELPER"); script != "" {
		code, err := Run(Command{Path: "sh", Args: []string{"-c", script}, Env: os.Environ(),
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			os.Exit(99)
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// onTerminal starts the wrapper as the foreground job of a new terminal.
func onTerminal(t *testing.T, script string) (*exec.Cmd, *os.File, *bufio.Reader) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHELLWRAP_HELPER="+script)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	t.Cleanup(func() { tty.Close(); cmd.Process.Kill() })
	r := bufio.NewReader(tty)
	waitFor(t, r, "ready")
	return cmd, tty, r
}

func waitFor(t *testing.T, r *bufio.Reader, word string) {
	t.Helper()
	got := make(chan bool, 1)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if strings.Contains(l, word) {
				got <- true
				return
			}
			if err != nil {
				got <- false
				return
			}
		}
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatalf("terminal closed before %q", word)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q on the terminal", word)
	}
}

func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the wrapper did not exit")
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Fatalf("the wrapper itself died of %v", ws.Signal())
	}
	return ws.ExitStatus()
}

// TestCtrlCReachesTheChildNotTheWrapper: ^C on the terminal interrupts
// the child; the wrapper lives on and returns 128+SIGINT.
func TestCtrlCReachesTheChildNotTheWrapper(t *testing.T) {
	cmd, tty, _ := onTerminal(t, "echo ready; exec sleep 30")
	// press ^C once the child is really running its command, as a person would
	child := childOf(t, cmd.Process.Pid)
	for i := 0; i < 250; i++ {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/comm"); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tty.Write([]byte{3}) // ^C
	if code := exitStatus(t, cmd); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
}

// TestCtrlZStopsBothAndFgResumesBoth: ^Z stops the wrapper and the child
// together, and fg resumes both, under a job-control shell as in real use.
func TestCtrlZStopsBothAndFgResumesBoth(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed for a job-control shell")
	}
	shell := exec.Command("bash", "--norc", "-c", `set -m; "$HELPER_BIN" -test.run='^$'; read x; fg; echo "wrapper-exit=$?"`)
	shell.Env = append(os.Environ(), "HELPER_BIN="+os.Args[0],
		"SHELLWRAP_HELPER=echo ready; read line; echo \"resumed $line\"")
	tty, err := pty.Start(shell)
	if err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	defer tty.Close()
	defer shell.Process.Kill()
	r := bufio.NewReader(tty)
	waitFor(t, r, "ready")
	wrapper := childOf(t, shell.Process.Pid)
	child := childOf(t, wrapper)
	tty.Write([]byte{26}) // ^Z
	waitState(t, wrapper, 'T')
	waitState(t, child, 'T')
	tty.Write([]byte("go\n")) // the shell reads it, then runs fg
	waitState(t, wrapper, 'S')
	tty.Write([]byte("ok\n"))
	waitFor(t, r, "resumed ok")
	waitFor(t, r, "wrapper-exit=0")
}

func childOf(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if f := strings.Fields(string(b)); len(f) > 0 {
			c, _ := strconv.Atoi(f[0])
			return c
		}
		// Go may have started the child from another thread
		tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		for _, task := range tasks {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
			if f := strings.Fields(string(b)); len(f) > 0 {
				c, _ := strconv.Atoi(f[0])
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the child process was not found")
	return 0
}

// waitState waits until /proc says the process is in state s (T stopped,
// S sleeping, R running).
func waitState(t *testing.T, pid int, s byte) {
	t.Helper()
	for i := 0; i < 250; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			if k := strings.LastIndexByte(string(b), ')'); k > 0 && k+2 < len(b) {
				st := b[k+2]
				if st == s || (s == 'S' && (st == 'R' || st == 'S')) {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process never reached state %c", s)
}
