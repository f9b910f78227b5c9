// Package redistest starts real Redis servers (Debian's redis-server and
// redis-sentinel) for tests, on loopback ports the system picks, each in
// its own directory, stopped when the test ends.
//
// Without redis-server on PATH a test is skipped with the reason, unless
// CLAUDE_SECURE_REQUIRE_REDIS is set (as the test command sets it), when it
// fails instead.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// T is what the helpers need of a test: a *testing.T, or an adapter (the
// command line's scripts have one).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var _ T = (testing.TB)(nil)

// Server is one redis-server (or redis-sentinel) process.
type Server struct {
	t    T
	Dir  string
	Port int
	bin  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Need skips (or, where Redis is required, fails) a test on a machine
// without bin.
func Need(t T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CLAUDE_SECURE_REQUIRE_REDIS") != "" {
			t.Fatalf("%s is not installed, and CLAUDE_SECURE_REQUIRE_REDIS is set", bin)
		}
		t.Skipf("skipped: %s is not installed (Debian package %s); scripts/test.sh installs it", bin, debPackage(bin))
	}
	return p
}

func debPackage(bin string) string {
	if bin == "redis-sentinel" {
		return "redis-sentinel"
	}
	return "redis-server"
}

// Start starts a redis-server with the given extra configuration
// directives ("appendonly yes", "replicaof 127.0.0.1 6379", …).
func Start(t T, conf ...string) *Server {
	t.Helper()
	return startBin(t, "redis-server", conf)
}

func startBin(t T, bin string, conf []string) *Server {
	t.Helper()
	Need(t, bin)
	s := &Server{t: t, Dir: t.TempDir(), bin: bin, args: conf}
	var err error
	for range 5 { // the port picked may be taken before redis binds it
		s.Port = freePort(t)
		if err = s.start(); err == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("%s did not start: %v", bin, err)
	return nil
}

func freePort(t T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	conf := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(s.Port),
		"dir " + s.Dir,
		"save \"\"",
		"logfile redis.log",
		"protected-mode no",
	}
	conf = append(conf, s.args...)
	if err := os.WriteFile(filepath.Join(s.Dir, "redis.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(s.bin, filepath.Join(s.Dir, "redis.conf"))
	// a configuration it refuses is reported on stderr, before any log
	out, err := os.Create(filepath.Join(s.Dir, "stderr.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited: %v (%s)", s.bin, err, s.logTail())
		default:
		}
		if Ping(s.Addr()) == nil {
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			go func() { <-exited }()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("%s did not answer within 10 s (%s)", s.bin, s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	e, _ := os.ReadFile(filepath.Join(s.Dir, "stderr.log"))
	lines := strings.Split(strings.TrimSpace(string(b)+"\n"+string(e)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Kill ends the server at once (SIGKILL).
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		for Ping(s.Addr()) == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 50 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s did not start again: %v", s.bin, err)
}

// Ping sends PING over a plain connection and reads the answer.
func Ping(addr string) error {
	_, err := Do(addr, "PING")
	return err
}

// send dials addr and sends one command, with a second for all of it and
// its answer; the caller reads the answer and closes the connection.
func send(addr string, args []string) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, bufio.NewReader(c), nil
}

// Do sends one command and returns the first line of the answer.
func Do(addr string, args ...string) (string, error) {
	c, r, err := send(addr, args)
	if err != nil {
		return "", err
	}
	defer c.Close()
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}
