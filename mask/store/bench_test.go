package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
)

// The cost of issuing a mapping, file store against Redis, each op one
// new mapping (ns/op is per mapping). The engine makes one Issue call per
// request with the request's new identifiers, so the mappings go in
// batches: 2 (an instance and an account, the load runs' first requests)
// and 64 (a tool result full of new IDs), from one caller or from 64 at
// once (a gateway's clients). Compare with
//
//	go test ./mask/store -run '^$' -bench 'Issue' -count 6
//
// Redis runs as a gateway's store should: "appendonly yes", "appendfsync
// always", so an acknowledged mapping is on disk as the file store's is;
// "memory" is Redis without persistence, for what the fsync costs.

// issueShapes are the batch sizes and callers each store is measured with.
var issueShapes = []struct {
	name           string
	batch, callers int
}{
	{"batch=2", 2, 1},
	{"batch=64", 64, 1},
	{"batch=2/callers=64", 2, 64},
}

func BenchmarkFileIssue(b *testing.B) {
	for _, sh := range issueShapes {
		b.Run(sh.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), testKey)
			if err != nil {
				b.Fatal(err)
			}
			benchIssue(b, s, sh.batch, sh.callers)
		})
	}
}

func BenchmarkRedisIssue(b *testing.B) {
	for _, conf := range []struct {
		name string
		conf []string
	}{
		{"durable", []string{"appendonly yes", "appendfsync always"}},
		{"memory", nil},
	} {
		srv := redistest.Start(b, conf.conf...)
		for _, sh := range issueShapes {
			b.Run(conf.name+"/"+sh.name, func(b *testing.B) {
				s := openRedisTest(b, srv.URL(), testKey)
				benchIssue(b, s, sh.batch, sh.callers)
			})
		}
	}
}

// issued numbers the originals of every benchmark run, so each one is
// new to the store it goes to.
var issued atomic.Uint64

// benchIssue issues b.N new instance IDs through s, in batches of batch,
// from callers goroutines at once.
func benchIssue(b *testing.B, s mask.Mappings, batch, callers int) {
	next := make(chan int, callers)
	go func() {
		defer close(next)
		for left := b.N; left > 0; left -= batch {
			next <- min(batch, left)
		}
	}()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for n := range next {
				if err := issueNew(s, n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// issueNew issues n new instance IDs through s in one call.
func issueNew(s mask.Mappings, n int) error {
	ms := make([]mask.Mapping, n)
	for i := range ms {
		k := issued.Add(1)
		ms[i] = mask.Mapping{Family: "hex", Kind: "ec2-instance",
			Original: fmt.Sprintf("i-0b%015x", k), Pseudonym: fmt.Sprintf("i-0c%015x", mix(k))}
	}
	_, err := s.Issue(ms, func(m mask.Mapping) (string, error) {
		return fmt.Sprintf("i-0d%015x", mix(issued.Add(1))), nil
	})
	return err
}

// mix spreads k over 60 bits (splitmix64's finalizer), as a permutation
// spreads pseudonyms.
func mix(k uint64) uint64 {
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	k ^= k >> 31
	return k >> 4
}

// The store's part of every request in steady state: the engine reads
// what other processes recorded since it last looked (here nothing), once
// per request; for Redis one round trip, for the file store a look at the
// file. The store holds 10,000 mappings. "callers=200" is 200 requests at
// once on one engine, as on a gateway with 200 clients (waiting requests
// share a read begun after they came).
func BenchmarkFileRefresh(b *testing.B) {
	s, err := Open(b.TempDir(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	benchRefresh(b, s)
}

func BenchmarkRedisRefresh(b *testing.B) {
	srv := redistest.Start(b, "appendonly yes", "appendfsync always")
	benchRefresh(b, openRedisTest(b, srv.URL(), testKey))
}

func benchRefresh(b *testing.B, s Backend) {
	for range 10000 / 100 {
		if err := issueNew(s, 100); err != nil {
			b.Fatal(err)
		}
	}
	e, err := mask.New(s.Seed(), s, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("callers=1", func(b *testing.B) {
		for b.Loop() {
			if err := e.Refresh(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("callers=200", func(b *testing.B) {
		b.SetParallelism(100) // 200 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := e.Refresh(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
