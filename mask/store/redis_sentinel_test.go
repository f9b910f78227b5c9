package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
)

// failoverRun is what the workers of the failover test saw.
type failoverRun struct {
	mu       sync.Mutex
	answered map[string]string // original → the pseudonym an answer gave for it
	bySince  map[string]bool   // originals only Since answered with
	issued   int               // mappings in successful Issue answers
	learned  int               // mappings read back by Since
	errs     map[string]int    // errors by kind
	recent   []string          // originals proposed lately, for the readers
	conflict int               // originals answered with two pseudonyms

	killed  atomic.Int64 // when the primary was killed (UnixNano), 0 before
	resumed atomic.Int64 // the first success of a call begun after that
}

func (r *failoverRun) answer(orig, ps string, since bool) {
	if ps == "" {
		return
	}
	have, ok := r.answered[orig]
	if ok && have != ps {
		r.conflict++
	}
	if !ok && since {
		r.bySince[orig] = true
	} else if !since {
		delete(r.bySince, orig)
	}
	r.answered[orig] = ps
}

// record counts an error by kind: mask.ErrStoreUnavailable by the reason
// it gives, anything else as "other: …".
func (r *failoverRun) record(err error) {
	kind := "other: " + err.Error()
	if errors.Is(err, mask.ErrStoreUnavailable) {
		_, reason, _ := strings.Cut(err.Error(), "): ")
		kind = "unavailable: " + reason
	}
	r.mu.Lock()
	r.errs[kind]++
	r.mu.Unlock()
}

func (r *failoverRun) succeeded(began time.Time) {
	if k := r.killed.Load(); k != 0 && began.UnixNano() > k {
		r.resumed.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// proposal is a pseudonym as the engine proposes one: the same for the
// same original in every process, from a space small enough that
// proposals collide and are proposed again.
func proposal(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("ps-%05d", h.Sum32()%(1<<14))
}

func proposeAgain(m mask.Mapping) (string, error) { return proposal(m.Pseudonym), nil }

func newMappings(origs ...string) []mask.Mapping {
	b := make([]mask.Mapping, len(origs))
	for i, o := range origs {
		b[i] = mask.Mapping{Family: "f", Kind: "k", Original: o, Pseudonym: proposal(o)}
	}
	return b
}

// A primary killed under load, while its replica lags: connected, but not
// applying what it is sent (CLIENT PAUSE WRITE on the replica), so that
// what the primary wrote in its last second is lost with it, as it would
// be with a slow link. While Sentinel fails over, every call answers the
// truth or mask.ErrStoreUnavailable; once a replica is back (the old
// primary, restarted and made a replica by the sentinels), calls succeed
// again; and every mapping any call answered with — issued, found already
// issued by another process, or read from the log by Since — is in the
// store afterwards, with one original per pseudonym.
func TestRedisSentinelFailoverKeepsEveryAnswer(t *testing.T) {
	old := RedisTimeout
	RedisTimeout = time.Second
	t.Cleanup(func() { RedisTimeout = old })
	cluster := redistest.StartSentinel(t, "claude-secure-failover")
	url := cluster.URL()
	openRedisTest(t, url, testKey) // the store, created before the load

	run := &failoverRun{answered: map[string]string{}, bySince: map[string]bool{}, errs: map[string]int{}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var next atomic.Int64
	var wg sync.WaitGroup
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	// writers issue new originals, and one another's recent ones
	for w := range 3 {
		s := openRedisTest(t, url, testKey)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := next.Add(3)
				origs := []string{fmt.Sprintf("orig-%06d", n-2), fmt.Sprintf("orig-%06d", n-1), fmt.Sprintf("orig-%06d", n)}
				run.mu.Lock()
				if len(run.recent) > 0 {
					origs = append(origs, run.recent[(int(n)+w)%len(run.recent)])
				}
				run.mu.Unlock()
				batch := newMappings(origs...)
				began := time.Now()
				got, err := s.IssueContext(ctx, batch, proposeAgain)
				if ctx.Err() != nil {
					return
				}
				run.mu.Lock()
				if k := run.killed.Load(); k == 0 || began.UnixNano() > k {
					// what was proposed before the kill is not proposed
					// again after it: an answer lost with the primary
					// would be issued anew, with the same pseudonym
					run.recent = append(run.recent, origs[:3]...)
				}
				if len(run.recent) > 30 {
					run.recent = run.recent[len(run.recent)-30:]
				}
				if err == nil {
					for i, m := range batch {
						run.answer(m.Original, got[i], false)
					}
					run.issued += len(batch)
				}
				run.mu.Unlock()
				if err != nil {
					run.record(err)
					pause()
					continue
				}
				run.succeeded(began)
			}
		}()
	}
	// a reader issues only originals the writers proposed (found already
	// issued, most of them: it writes nothing)
	reader := openRedisTest(t, url, testKey)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			run.mu.Lock()
			var origs []string
			if k := len(run.recent); k >= 3 {
				origs = append(origs, run.recent[k-3:]...)
			}
			run.mu.Unlock()
			if origs == nil {
				pause()
				continue
			}
			batch := newMappings(origs...)
			began := time.Now()
			got, err := reader.IssueContext(ctx, batch, proposeAgain)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				run.record(err)
				pause()
				continue
			}
			run.mu.Lock()
			for i, m := range batch {
				run.answer(m.Original, got[i], false)
			}
			run.issued += len(batch)
			run.mu.Unlock()
			run.succeeded(began)
			pause()
		}
	}()
	// a learner reads what the others issued, as an engine refreshing
	// before each request does
	learner := openRedisTest(t, url, testKey)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var cursor uint64
		for ctx.Err() == nil {
			var got []mask.Mapping
			after := cursor
			err := learner.SinceContext(ctx, cursor, func(b []mask.Mapping, n uint64) {
				got = append(got, b...)
				after = n
			})
			if ctx.Err() != nil {
				return
			}
			run.mu.Lock()
			for _, m := range got {
				run.answer(m.Original, m.Pseudonym, true)
			}
			run.learned += len(got)
			run.mu.Unlock()
			cursor = after
			if err != nil {
				run.record(err)
			}
			pause()
		}
	}()

	issuedSoFar := func() int {
		run.mu.Lock()
		defer run.mu.Unlock()
		return run.issued
	}
	// the workers end before the stores close
	t.Cleanup(func() { stop(); wg.Wait() })
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				run.mu.Lock()
				defer run.mu.Unlock()
				t.Fatalf("%s: not within %v (errors: %v)\n%s", what, d, run.errs, cluster.Events())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("mappings issued before the failover", 10*time.Second, func() bool { return issuedSoFar() >= 300 })

	// the replica stops applying what it is sent, and stays connected
	primary := cluster.Primary()
	replica := cluster.Nodes[0]
	if replica == primary {
		replica = cluster.Nodes[1]
	}
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "PAUSE", "20000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cluster.KillPrimary()
	killedAt := time.Now()
	run.killed.Store(killedAt.UnixNano())
	run.mu.Lock()
	run.recent = nil
	run.mu.Unlock()
	// what the replica was sent and had not applied goes with the primary
	waitFor("the replica sees its primary gone", 5*time.Second, func() bool {
		info, _ := redistest.DoAll(replica.Addr(), "INFO", "replication")
		return strings.Contains(strings.Join(info, ""), "master_link_status:down")
	})
	if _, err := redistest.Do(replica.Addr(), "CLIENT", "UNPAUSE"); err != nil {
		t.Fatal(err)
	}
	if now := cluster.WaitFailover(primary, 20*time.Second); now != replica {
		t.Fatalf("the sentinels promoted another node")
	}
	failedOver := time.Since(killedAt)
	// the old primary comes back (empty: these nodes keep nothing on
	// disk) and the sentinels make it the new primary's replica
	primary.Restart()
	waitFor("calls succeed again", 30*time.Second-time.Since(killedAt), func() bool { return run.resumed.Load() != 0 })
	resumedAfter := time.Duration(run.resumed.Load() - killedAt.UnixNano())
	before := issuedSoFar()
	waitFor("mappings issued after the failover", 10*time.Second, func() bool { return issuedSoFar() >= before+100 })
	stop()
	wg.Wait()

	var kinds []string
	for k, n := range run.errs {
		kinds = append(kinds, fmt.Sprintf("%d × %s", n, k))
		if strings.HasPrefix(k, "other") {
			t.Errorf("an error other than ErrStoreUnavailable: %d × %s", n, k)
		}
	}
	sort.Strings(kinds)
	t.Logf("failed over in %v; calls succeeded again %v after the kill; %d mappings answered by Issue, %d read back by Since, %d originals in all; errors: %s",
		failedOver.Round(time.Millisecond), resumedAfter.Round(time.Millisecond), run.issued, run.learned, len(run.answered), strings.Join(kinds, "; "))
	if run.conflict > 0 {
		t.Errorf("%d originals were answered with two pseudonyms", run.conflict)
	}

	// a process opening the store now reads every answer back
	byOrig := map[string]string{}
	byPseudonym := map[string]string{}
	err := openRedisTest(t, url, testKey).Since(0, func(b []mask.Mapping, _ uint64) {
		for _, m := range b {
			if _, ok := byOrig[m.Original]; ok {
				t.Errorf("an original is in the log twice")
			}
			if o, ok := byPseudonym[m.Pseudonym]; ok && o != m.Original {
				t.Errorf("two originals share a pseudonym")
			}
			byOrig[m.Original] = m.Pseudonym
			byPseudonym[m.Pseudonym] = m.Original
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	lost, lostSince, changed := 0, 0, 0
	for o, ps := range run.answered {
		switch have, ok := byOrig[o]; {
		case !ok && run.bySince[o]:
			lostSince++
		case !ok:
			lost++
		case have != ps:
			changed++
		}
	}
	if lost+lostSince+changed > 0 {
		t.Errorf("of %d mappings answered, %d are not in the store after the failover (%d of them answered by Issue, %d only read by Since) and %d have another pseudonym",
			len(run.answered), lost+lostSince, lost, lostSince, changed)
	}
}
