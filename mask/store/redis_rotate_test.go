package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
)

func redisLog(t *testing.T, s *RedisStore) []mask.Mapping { return backendLog(t, s) }

func TestRedisRotateKeyKeepsEveryPseudonym(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	replica := openRedisTest(t, srv.URL(), testKey)
	masked, err := engineOver(t, s).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBatch("msgbatch_01", []string{"ps-1", "ps-2"}); err != nil {
		t.Fatal(err)
	}
	before := redisLog(t, s)
	newKey := bytes.Repeat([]byte{5}, 32)
	ns, err := s.RotateKey(context.Background(), newKey)
	if err != nil {
		t.Fatal(err)
	}
	reopened := openRedisTest(t, srv.URL(), newKey)
	if !slices.Equal(redisLog(t, reopened), before) || !bytes.Equal(reopened.Seed(), s.Seed()) {
		t.Error("the mappings or the seed changed")
	}
	e := engineOver(t, reopened)
	if back, err := e.UnmaskBytes(masked, e.RestoreAll(), nil); err != nil || string(back) != sample {
		t.Errorf("the new key does not restore what the old one masked: %v", err)
	}
	if again, _ := engineOver(t, ns).MaskBytes([]byte(sample), nil); !bytes.Equal(again, masked) {
		t.Error("pseudonyms changed with the key")
	}
	if ps, ok, err := reopened.LoadBatch("msgbatch_01"); err != nil || !ok || len(ps) != 2 {
		t.Errorf("batch after rotation: %d %v %v", len(ps), ok, err)
	}
	if _, err := OpenRedis(context.Background(), srv.URL(), testKey); !errors.Is(err, ErrWrongKey) {
		t.Errorf("the old key still opens the store: %v", err)
	}
	// a replica still on the old key issues nothing, and says why
	_, err = replica.Issue([]mask.Mapping{{Family: "f", Kind: "k", Original: "orig-new", Pseudonym: "ps-new"}}, nil)
	if !errors.Is(err, mask.ErrStoreUnavailable) || !errors.Is(err, ErrWrongKey) {
		t.Errorf("a replica on the old key issued: %v", err)
	}
	if err := replica.Check(); !errors.Is(err, ErrWrongKey) {
		t.Errorf("a replica on the old key is ready: %v", err)
	}
	// nothing of the old key is left: meta, the log, and per mapping its
	// forward, reverse and original entries, and the batch
	n := len(before)
	if got, _ := redistest.Do(srv.Addr(), "DBSIZE"); got != ":"+itoa(2+3*n+1) {
		t.Errorf("after rotation Redis holds %s keys, want %d", got, 2+3*n+1)
	}
}

// A rotation that stops before its switch leaves the store under the old
// key, issuing nothing until rotate-key runs again.
func TestRedisInterruptedRotation(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	if _, err := engineOver(t, s).MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	before := redisLog(t, s)
	ctx := context.Background()
	old := rotationLease
	rotationLease = 300 * time.Millisecond
	t.Cleanup(func() { rotationLease = old })
	if ok, err := freezeScript.Run(ctx, s.c, []string{redisKeys{}.meta(), rotationKey()}, s.gen, "token-1", rotationLease.Milliseconds()).Int(); err != nil || ok != 1 {
		t.Fatalf("freeze: %v %v", ok, err)
	}
	nk, _ := deriveKeys(bytes.Repeat([]byte{5}, 32))
	if _, err := s.resealInto(ctx, &RedisStore{keys: nk, c: s.c, seed: s.seed}, "token-1"); err != nil {
		t.Fatal(err)
	}
	// the process stops here; another opens the store with the old key
	again := openRedisTest(t, srv.URL(), testKey)
	if !slices.Equal(redisLog(t, again), before) {
		t.Error("an interrupted rotation changed the mappings")
	}
	_, err := again.Issue([]mask.Mapping{{Family: "f", Kind: "k", Original: "orig-new", Pseudonym: "ps-new"}}, nil)
	if !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("issued during an interrupted rotation: %v", err)
	}
	if err := again.Check(); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("ready during an interrupted rotation: %v", err)
	}
	// while the stopped rotation's lease lasts, no other may start
	if _, err := again.RotateKey(ctx, bytes.Repeat([]byte{6}, 32)); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Fatalf("a rotation started while another held the lease: %v", err)
	}
	time.Sleep(2 * rotationLease)
	ns, err := again.RotateKey(ctx, bytes.Repeat([]byte{6}, 32))
	if err != nil {
		t.Fatalf("rotating again: %v", err)
	}
	if !slices.Equal(redisLog(t, ns), before) {
		t.Error("the second rotation changed the mappings")
	}
	// the old key's entries are gone; the stopped rotation's stay, sealed
	// under a key that was never installed (no name of them is known)
	if got, _ := redistest.Do(srv.Addr(), "DBSIZE"); got != ":"+itoa(2+6*len(before)) {
		t.Errorf("after rotation Redis holds %s keys, want %d", got, 2+6*len(before))
	}
	if _, err := ns.Issue([]mask.Mapping{{Family: "f", Kind: "k", Original: "orig-new", Pseudonym: "ps-new"}}, nil); err != nil {
		t.Errorf("issuing after the rotation: %v", err)
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

// Two rotations at once: one runs, the other is refused, and the store
// opens whole under the winner's key.
func TestRedisConcurrentRotations(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	batch := make([]mask.Mapping, 3000)
	for i := range batch {
		batch[i] = mask.Mapping{Family: "f", Kind: "k", Original: "orig-" + strconv.Itoa(i), Pseudonym: "ps-" + strconv.Itoa(i)}
	}
	if _, err := s.Issue(batch, nil); err != nil {
		t.Fatal(err)
	}
	before := redisLog(t, s)
	keys := [][]byte{bytes.Repeat([]byte{5}, 32), bytes.Repeat([]byte{6}, 32)}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = openRedisTest(t, srv.URL(), testKey).RotateKey(context.Background(), keys[i])
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			if won >= 0 {
				t.Fatal("both rotations say they succeeded")
			}
			won = i
		}
	}
	if won < 0 {
		t.Fatalf("neither rotation succeeded: %v / %v", errs[0], errs[1])
	}
	if got := redisLog(t, openRedisTest(t, srv.URL(), keys[won])); !slices.Equal(got, before) {
		t.Errorf("the winner's key reads %d of %d mappings", len(got), len(before))
	}
}

// What a replica on the new key writes right after the switch stays: the
// sweep deletes only the old key's entries.
func TestRedisRotationKeepsNewKeyWrites(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedisTest(t, srv.URL(), testKey)
	if _, err := engineOver(t, s).MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{5}, 32)
	ns, err := s.RotateKey(context.Background(), newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Issue([]mask.Mapping{{Family: "f", Kind: "k", Original: "orig-new", Pseudonym: "ps-new"}}, nil); err != nil {
		t.Fatal(err)
	}
	// a second rotation's sweep must not take it either
	ns2, err := ns.RotateKey(context.Background(), bytes.Repeat([]byte{6}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if orig, _, ok, err := ns2.LookupOne("ps-new"); err != nil || !ok || orig != "orig-new" {
		t.Errorf("a mapping written under the new key is gone: %v %v", ok, err)
	}
}

// Where writes wait for a replica, a rotation waits for it too: with the
// replica applying nothing, the rotation is refused and the old key keeps
// the store; once the replica follows, it re-seals everything and sweeps
// the old key's entries.
func TestRedisRotationWaitsForTheReplica(t *testing.T) {
	old := RedisTimeout
	RedisTimeout = time.Second
	t.Cleanup(func() { RedisTimeout = old })
	primary := redistest.Start(t, "repl-diskless-sync-delay 0")
	replica := redistest.Start(t, "replicaof 127.0.0.1 "+strconv.Itoa(primary.Port))
	waitReplicating(t, primary)
	s := openRedisTest(t, primary.URL(), testKey)
	s.replicas = 1 // as a redis-sentinel:// URL sets
	if _, err := s.Issue(newMappings("orig-1", "orig-2"), proposeAgain); err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{6}, 32)
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "PAUSE", "10000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateKey(context.Background(), newKey); !errors.Is(err, mask.ErrStoreUnavailable) {
		t.Errorf("a rotation with the replica behind: %v, want ErrStoreUnavailable", err)
	}
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "UNPAUSE"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRedis(context.Background(), primary.URL(), testKey); err != nil {
		t.Fatalf("after the refused rotation the old key does not open the store: %v", err)
	}
	ns, err := s.RotateKey(context.Background(), newKey)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(redisLog(t, ns)); n != 2 {
		t.Errorf("the rotated store holds %d mappings, want 2", n)
	}
	keys, err := redistest.DoAll(primary.Addr(), "KEYS", "claude-secure:f:*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("%d forward entries after the rotation, want 2 (the old key's swept)", len(keys))
	}
}
