package redistest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sentinels is a primary, one replica of it, and three redis-sentinel
// processes watching them with a quorum of two, as a team would run them,
// with the timeouts shortened so that a failover takes seconds.
type Sentinels struct {
	t      testing.TB
	Master string    // the name the sentinels know the primary by
	Nodes  []*Server // the data nodes: [0] started as the primary, [1] as its replica
	Watch  []*Server // the sentinels
}

// Sentinel timeouts: a primary that does not answer for downAfter is
// down; failoverTimeout bounds a failover (and is half the wait before
// another is tried when an election splits).
const (
	downAfter       = 1000 * time.Millisecond
	failoverTimeout = 3 * time.Second
)

// StartSentinel starts a primary, its replica and three sentinels, all on
// loopback, each in its own directory, with the given extra directives for
// both data nodes, and waits until the sentinels know the replica and each
// other (so that they can agree on a failover). Everything is killed when
// the test ends.
func StartSentinel(t testing.TB, master string, conf ...string) *Sentinels {
	t.Helper()
	Need(t, "redis-server")
	Need(t, "redis-sentinel")
	c := &Sentinels{t: t, Master: master}
	// a replica's full sync starts at once, not after the default five
	// seconds' wait for other replicas to share it; a node killed and
	// started again comes back with its data, as a team's would (an
	// empty one could be promoted in a second failover, and its
	// emptiness copied to the other)
	conf = append([]string{"repl-diskless-sync-delay 0", "appendonly yes"}, conf...)
	primary := Start(t, conf...)
	replica := Start(t, append([]string{"replicaof 127.0.0.1 " + strconv.Itoa(primary.Port)}, conf...)...)
	c.Nodes = []*Server{primary, replica}
	for range 3 {
		c.Watch = append(c.Watch, StartSentinelProcess(t, []string{
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", master, primary.Port),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", master, downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", master, failoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", master),
		}...))
	}
	// sentinels find each other through the primary's hello channel,
	// which each publishes to every two seconds
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := true
		for _, w := range c.Watch {
			m, err := sentinelMaster(w.Addr(), master)
			ready = ready && err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2" && m["flags"] == "master"
		}
		// the replica has loaded its copy, and its primary has put it
		// online (a WAIT counts only those)
		if info, _ := DoAll(replica.Addr(), "INFO", "replication"); !strings.Contains(strings.Join(info, ""), "master_link_status:up") {
			ready = false
		}
		if info, _ := DoAll(primary.Addr(), "INFO", "replication"); !strings.Contains(strings.Join(info, ""), ",state=online,") {
			ready = false
		}
		if ready {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sentinels did not find the replica and each other within 20 s (%s)", c.Watch[0].logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartSentinelProcess starts one redis-sentinel with the given
// directives, on loopback like Start.
func StartSentinelProcess(t testing.TB, conf ...string) *Server {
	t.Helper()
	return startBin(t, "redis-sentinel", conf)
}

// URL is the redis-sentinel:// URL naming every sentinel and the primary.
func (c *Sentinels) URL() string {
	addrs := make([]string, len(c.Watch))
	for i, w := range c.Watch {
		addrs[i] = w.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + c.Master
}

// Primary is the data node the first sentinel that answers names as the
// primary, or nil.
func (c *Sentinels) Primary() *Server {
	for _, w := range c.Watch {
		addr, err := DoAll(w.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", c.Master)
		if err != nil || len(addr) != 2 {
			continue
		}
		for _, n := range c.Nodes {
			if addr[1] == strconv.Itoa(n.Port) {
				return n
			}
		}
	}
	return nil
}

// KillPrimary kills the current primary at once (SIGKILL) and returns it,
// so that the test can start it again once the sentinels have failed over.
func (c *Sentinels) KillPrimary() *Server {
	c.t.Helper()
	p := c.Primary()
	if p == nil {
		c.t.Fatal("no sentinel names a primary")
	}
	p.Kill()
	return p
}

// WaitFailover waits until every sentinel names a primary other than old,
// and returns it.
func (c *Sentinels) WaitFailover(old *Server, within time.Duration) *Server {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		agreed := 0
		var now *Server
		for _, w := range c.Watch {
			addr, err := DoAll(w.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", c.Master)
			if err == nil && len(addr) == 2 && addr[1] != strconv.Itoa(old.Port) {
				agreed++
				for _, n := range c.Nodes {
					if addr[1] == strconv.Itoa(n.Port) {
						now = n
					}
				}
			}
		}
		if agreed == len(c.Watch) && now != nil {
			return now
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("the sentinels did not fail over within %v (%s)", within, c.Watch[0].logTail())
	return nil
}

// Events is what the sentinels logged: each one's failover events, for a
// test that failed to show.
func (c *Sentinels) Events() string {
	var b strings.Builder
	for i, w := range c.Watch {
		log, _ := os.ReadFile(filepath.Join(w.Dir, "redis.log"))
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, " # ") { // Redis marks warnings, which Sentinel's events are, with #
				fmt.Fprintf(&b, "sentinel %d: %s\n", i, l)
			}
		}
	}
	return b.String()
}

// sentinelMaster is SENTINEL MASTER's answer as a map.
func sentinelMaster(addr, name string) (map[string]string, error) {
	kv, err := DoAll(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m, nil
}

// DoAll sends one command and returns the answer's strings, arrays
// flattened (a nil entry is "").
func DoAll(addr string, args ...string) ([]string, error) {
	c, r, err := send(addr, args)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []string
	return out, readReply(r, &out)
}

func readReply(r *bufio.Reader, out *[]string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return fmt.Errorf("redis: an empty line")
	}
	switch line[0] {
	case '-':
		return fmt.Errorf("redis: %s", line[1:])
	case '+', ':':
		*out = append(*out, line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			*out = append(*out, "")
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		*out = append(*out, string(buf[:n]))
	case '*':
		n, _ := strconv.Atoi(line[1:])
		for range n {
			if err := readReply(r, out); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("redis: an answer of type %q", line[0])
	}
	return nil
}
