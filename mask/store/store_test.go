package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/zalando/go-keyring"
	bolt "go.etcd.io/bbolt"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unmaskAll restores everything s issued in masked, as the command line's
// unmask does.
func unmaskAll(t testing.TB, s *Store, masked []byte) ([]byte, error) {
	e := engineOn(t, s)
	return e.UnmaskBytes(masked, e.RestoreAll(), nil)
}

func engineOn(t testing.TB, s *Store) *mask.Engine {
	e, err := mask.New(s.Seed(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const sample = "i-0f3a9c2b7d1e4a605 in account 210987654321 at 10.20.30.40, bucket s3://acme-orders-archive"

func TestMaskThroughStoreAcrossProcessesRestores(t *testing.T) {
	dir := t.TempDir()
	masked, err := engineOn(t, openTest(t, dir)).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	// a new Store and Engine, as in another process
	back, err := unmaskAll(t, openTest(t, dir), masked)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != sample {
		t.Error("a second process did not restore what the first masked")
	}
	again, _ := engineOn(t, openTest(t, dir)).MaskBytes([]byte(sample), nil)
	if !bytes.Equal(again, masked) {
		t.Error("pseudonyms changed between processes")
	}
}

func TestNothingReadableAtRest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := openTest(t, dir)
	masked, err := engineOn(t, s).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range append(strings.Fields(sample), strings.Fields(string(masked))...) {
		v = strings.Trim(v, ",")
		if len(v) >= 6 && bytes.Contains(raw, []byte(v)) {
			t.Errorf("value %d is readable in the store file", i)
		}
	}
	if bytes.Contains(raw, s.Seed()) {
		t.Error("the pseudonym seed is readable in the store file")
	}
	for _, p := range []string{dir, Path(dir)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(p), st.Mode().Perm(), want)
		}
	}
}

// tamper rewrites every value of a bucket with fn.
func tamper(t *testing.T, dir string, bucket []byte, fn func(k, v []byte) []byte) {
	t.Helper()
	db, err := bolt.Open(Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		var ks, vs [][]byte
		b.ForEach(func(k, v []byte) error {
			ks = append(ks, append([]byte(nil), k...))
			vs = append(vs, append([]byte(nil), v...))
			return nil
		})
		for i := range ks {
			if err := b.Put(ks[i], fn(ks[i], vs[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A changed, truncated or swapped record is reported, never used: in the
// log by every process that loads the index, in the batch bucket by what
// reads it (store info verifies every record).
func TestTamperedRecordIsReportedNotUsed(t *testing.T) {
	for name, fn := range map[string]func(k, v []byte) []byte{
		"flipped bit": func(k, v []byte) []byte { v[len(v)-1] ^= 1; return v },
		"truncated":   func(k, v []byte) []byte { return v[:len(v)/2] },
		"swapped":     nil, // filled below
	} {
		for _, bucket := range [][]byte{bucketLog, bucketBatch} {
			t.Run(name+"/"+string(bucket), func(t *testing.T) {
				dir := t.TempDir()
				s := openTest(t, dir)
				e := engineOn(t, s)
				if _, err := e.MaskBytes([]byte(sample), nil); err != nil {
					t.Fatal(err)
				}
				if _, err := e.MaskBytes([]byte("vpc-0d4e5f6a"), nil); err != nil {
					t.Fatal(err) // a second transaction: a second log chunk
				}
				for _, id := range []string{"msgbatch_1", "msgbatch_2"} {
					if err := s.SaveBatch(id, []string{"vpc-0d4e5f6a"}); err != nil {
						t.Fatal(err)
					}
				}
				swap := fn
				if swap == nil {
					// move every value to another key: each is bound to its own key
					var first []byte
					swap = func(k, v []byte) []byte {
						if first == nil {
							first = v
							return v
						}
						return first
					}
				}
				tamper(t, dir, bucket, swap)
				s2 := openTest(t, dir)
				var err error
				if string(bucket) == string(bucketLog) {
					_, err = mask.New(s2.Seed(), s2, nil)
				} else {
					_, err = s2.Info()
				}
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("got %v, want ErrDamaged", err)
				}
				if strings.Contains(err.Error(), "210987654321") {
					t.Error("error quotes a value")
				}
			})
		}
	}
}

func TestTruncatedFileIsDamaged(t *testing.T) {
	dir := t.TempDir()
	engineOn(t, openTest(t, dir)).MaskBytes([]byte(sample), nil)
	if err := os.Truncate(Path(dir), 4096); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testKey)
	if err == nil {
		t.Fatal("a truncated store opened")
	}
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("got %v, want ErrDamaged", err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	_, err := Open(dir, bytes.Repeat([]byte{8}, 32))
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
}

func TestRotateKeyKeepsEveryPseudonym(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	masked, err := engineOn(t, s).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{9}, 32)
	if _, err := s.RotateKey(newKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testKey); !errors.Is(err, ErrWrongKey) {
		t.Errorf("old key: got %v, want ErrWrongKey", err)
	}
	// the old handle must not write records under the old key any more
	if _, err := mask.New(s.Seed(), s, nil); !errors.Is(err, ErrWrongKey) {
		t.Errorf("stale handle: got %v, want ErrWrongKey", err)
	}
	if _, err := s.Issue([]mask.Mapping{{Family: "hex", Kind: "vpc", Original: "vpc-0d4e5f6a", Pseudonym: "vpc-1e5f6a7b"}}, nil); !errors.Is(err, ErrWrongKey) {
		t.Errorf("stale handle: got %v, want ErrWrongKey", err)
	}
	ns, err := Open(dir, newKey)
	if err != nil {
		t.Fatal(err)
	}
	back, err := unmaskAll(t, ns, masked)
	if err != nil || string(back) != sample {
		t.Fatalf("after rotation the store no longer restores: %v", err)
	}
	again, _ := engineOn(t, ns).MaskBytes([]byte(sample), nil)
	if !bytes.Equal(again, masked) {
		t.Error("rotation changed pseudonyms")
	}
	info, err := ns.Info()
	if err != nil || info.Mappings != 4 {
		t.Errorf("info after rotation: %d mappings, %v", info.Mappings, err)
	}
}

// ---- several processes -----------------------------------------------------

// The test binary doubles as a helper process: STORE_HELPER selects a role.
func TestMain(m *testing.M) {
	switch os.Getenv("STORE_HELPER") {
	case "mask":
		helperMask()
		return
	case "issue-forever":
		helperIssueForever()
		return
	case "first-run":
		helperFirstRun()
		return
	case "hog":
		helperHog()
		return
	}
	os.Exit(m.Run())
}

func helperMask() {
	s, err := Open(os.Getenv("STORE_DIR"), testKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	e, err := mask.New(s.Seed(), s, nil)
	if err != nil {
		os.Exit(3)
	}
	out := map[string]string{}
	seed, _ := time.Now().MarshalBinary()
	r := rand.New(rand.NewPCG(uint64(len(seed)), uint64(time.Now().UnixNano())))
	for _, i := range r.Perm(60) {
		orig := fmt.Sprintf("i-%017x", 0xabc000+i)
		m, err := e.MaskBytes([]byte(orig), nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		out[orig] = string(m)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// helperFirstRun opens the store in STORE_DIR as the command line does,
// with the key in the keyring (STORE_KEYRING=system) or, with no keyring,
// in a key file, and masks one value.
func helperFirstRun() {
	var k Keyring = SystemKeyring{Timeout: 10 * time.Second}
	if os.Getenv("STORE_KEYRING") != "system" {
		keyring.MockInitWithError(errors.New("no keyring"))
	}
	s, _, err := Opener{Dir: os.Getenv("STORE_DIR"), Keyring: k, Getenv: func(string) string { return "" }}.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	e, err := mask.New(s.Seed(), s, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	m, err := e.MaskBytes([]byte("vpc-0a1b2c3d"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	fmt.Print(string(m))
}

// helperHog writes to the store without a pause for STORE_HOG_FOR, each
// transaction taking 150 ms, and says "ready" once it holds the store.
func helperHog() {
	s, err := Open(os.Getenv("STORE_DIR"), testKey)
	if err != nil {
		os.Exit(3)
	}
	d, _ := time.ParseDuration(os.Getenv("STORE_HOG_FOR"))
	for end, first := time.Now().Add(d), true; time.Now().Before(end); first = false {
		err := s.update(func(*bolt.Tx) error {
			if first {
				fmt.Println("ready")
			}
			time.Sleep(150 * time.Millisecond)
			return nil
		})
		if err != nil {
			os.Exit(4)
		}
	}
}

func helperIssueForever() {
	s, err := Open(os.Getenv("STORE_DIR"), testKey)
	if err != nil {
		os.Exit(3)
	}
	e, _ := mask.New(s.Seed(), s, nil)
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		orig := fmt.Sprintf("vpc-%08x", i)
		m, err := e.MaskBytes([]byte(orig), nil)
		if err != nil {
			os.Exit(4)
		}
		// the mapping is durable before its pseudonym is printed
		fmt.Fprintf(w, "%s %s\n", orig, m)
		w.Flush()
	}
}

func helper(t *testing.T, role, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STORE_HELPER="+role, "STORE_DIR="+dir)
	return cmd
}

func TestConcurrentProcessesAgreeAndLoseNothing(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = helper(t, "mask", dir)
		outs[i] = new(bytes.Buffer)
		cmds[i].Stdout = outs[i]
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]map[string]string, n)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		if err := json.Unmarshal(outs[i].Bytes(), &results[i]); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range results[0] {
		for i := 1; i < n; i++ {
			if results[i][k] != v {
				t.Fatalf("processes disagree on a pseudonym")
			}
		}
	}
	info, err := openTest(t, dir).Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mappings != 60 {
		t.Errorf("store holds %d mappings, want 60", info.Mappings)
	}
}

func TestKill9LosesNoUsedMapping(t *testing.T) {
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		openTest(t, dir)
		cmd := helper(t, "issue-forever", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var used []string
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(time.Duration(200+round*150) * time.Millisecond)
		for sc.Scan() {
			used = append(used, sc.Text())
			if time.Now().After(deadline) {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		for sc.Scan() {
			used = append(used, sc.Text()) // lines already written before the kill
		}
		cmd.Wait()
		if len(used) == 0 {
			t.Fatal("helper issued nothing before it was killed")
		}
		s, err := Open(dir, testKey)
		if err != nil {
			t.Fatalf("store does not open after kill -9: %v", err)
		}
		e := engineOn(t, s)
		for _, l := range used {
			orig, ps, ok := strings.Cut(l, " ")
			if !ok {
				continue // a line cut by the kill
			}
			back, err := e.UnmaskBytes([]byte(ps), e.RestoreAll(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(back) != orig {
				t.Fatalf("round %d: a mapping whose pseudonym was used is missing after kill -9", round)
			}
		}
		t.Logf("round %d: %d mappings used before the kill, all present", round, len(used))
	}
}

// Several processes starting at once on a new state directory (two
// terminals opening claude through the shell hook, a parallel CI step)
// agree on one key and one store: every one of them works, they all get
// the same pseudonym, and the directory opens afterwards. With no keyring
// the key goes to a key file; under scripts/test-keyring.sh, also with the
// key in a real Secret Service.
func TestConcurrentFirstRuns(t *testing.T) {
	modes := []string{"file"}
	if os.Getenv("CLAUDE_SECURE_TEST_SECRET_SERVICE") == "1" {
		modes = append(modes, "system")
	} else {
		t.Log("the keyring case runs under scripts/test-keyring.sh (a real Secret Service)")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			for round := range 6 {
				dir := filepath.Join(t.TempDir(), "state")
				const n = 6
				cmds := make([]*exec.Cmd, n)
				outs := make([]*bytes.Buffer, n)
				for i := range cmds {
					cmds[i] = helper(t, "first-run", dir)
					cmds[i].Env = append(cmds[i].Env, "STORE_KEYRING="+mode)
					outs[i] = new(bytes.Buffer)
					cmds[i].Stdout = outs[i]
					cmds[i].Stderr = outs[i]
				}
				for _, c := range cmds {
					if err := c.Start(); err != nil {
						t.Fatal(err)
					}
				}
				first := ""
				for i, c := range cmds {
					if err := c.Wait(); err != nil {
						t.Fatalf("round %d, process %d failed: %v: %s", round, i, err, outs[i])
					}
					if first == "" {
						first = outs[i].String()
					} else if outs[i].String() != first {
						t.Fatalf("round %d: processes disagree on the pseudonym", round)
					}
				}
				var k Keyring = SystemKeyring{Timeout: 10 * time.Second}
				if mode == "file" {
					k = noKeyring{}
				}
				o := Opener{Dir: dir, Keyring: k, Getenv: noEnv}
				if _, _, err := o.Open(); err != nil {
					t.Fatalf("round %d: the directory does not open after the first runs: %v", round, err)
				}
				if mode == "system" {
					k.Delete(Service, o.account())
				}
			}
		})
	}
}

// noKeyring is a machine without a usable keyring.
type noKeyring struct{}

func (noKeyring) Get(string, string) (string, error) { return "", ErrKeyringUnavailable }
func (noKeyring) Set(string, string, string) error   { return ErrKeyringUnavailable }
func (noKeyring) Delete(string, string) error        { return ErrKeyringUnavailable }

// startHog starts a process that writes to the store in dir without a
// pause for the given time (it is killed when the test ends).
func startHog(t *testing.T, dir, busyFor string) {
	t.Helper()
	hog := helper(t, "hog", dir)
	hog.Env = append(hog.Env, "STORE_HOG_FOR="+busyFor)
	out, _ := hog.StdoutPipe()
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hog.Process.Kill(); hog.Wait() })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal("the busy process did not start")
	}
}

// A process that writes to the store without a pause does not keep
// another out: the one waiting gets its turn after the transaction in
// progress, not whenever it happens to ask in a free moment. So does one
// whose wait can be given up (a request's), which polls the turnstile.
func TestBusyStoreTakesWaitersInTurn(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	startHog(t, dir, "8s")
	old := lockTimeout
	lockTimeout = 3 * time.Second
	defer func() { lockTimeout = old }()
	request, cancel := context.WithCancel(context.Background())
	defer cancel()
	// the request first: after the other pass the busy process would be
	// parked at the turnstile already
	for _, ctx := range []context.Context{request, context.Background()} {
		for i := range 5 {
			start := time.Now()
			if err := s.updateContext(ctx, func(*bolt.Tx) error { return nil }); err != nil {
				t.Fatalf("write %d beside a busy process (cancelable: %v): %v", i, ctx.Done() != nil, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("write %d (cancelable: %v) waited %v behind transactions of 150 ms", i, ctx.Done() != nil, d.Round(time.Millisecond))
			}
		}
	}
}
