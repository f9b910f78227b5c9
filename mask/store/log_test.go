package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// storeOfChunks fills a store in transactions of the given sizes: one log
// chunk each.
func storeOfChunks(t *testing.T, dir string, sizes []int) *Store {
	t.Helper()
	s := openTest(t, dir)
	e := engineOn(t, s)
	n := 0
	for _, size := range sizes {
		var b strings.Builder
		for range size {
			fmt.Fprintf(&b, "i-%017x\n", 0x5ca1ab1e000+n)
			n++
		}
		if _, err := e.MaskBytes([]byte(b.String()), nil); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// reference reads the log one chunk at a time into fresh memory.
func reference(t *testing.T, s *Store) []mask.Mapping {
	t.Helper()
	var out []mask.Mapping
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			plain, err := s.openChunk(nil, k, v)
			if err != nil {
				return err
			}
			c, err := parseChunk(plain, nil)
			if err != nil {
				return err
			}
			batch, _, more := c.mappings(make([]mask.Mapping, 0, len(c.fields)/8+1), 0)
			if more {
				t.Fatal("a chunk read in one batch has records left")
			}
			out = append(out, batch...)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Loading opens chunks into buffers that go round and hands them over in
// small batches: every mapping arrives once, in order, whatever the sizes
// of the chunks around it, and the cursor moves only with a chunk's last
// batch.
func TestSinceReadsEveryChunkThroughReusedBuffers(t *testing.T) {
	sizes := []int{1, 700, 3, 1500, 2, 513, 512, 9, 1100, 1, 4, 800}
	s := storeOfChunks(t, t.TempDir(), sizes)
	want := reference(t, s)
	total := 0
	for _, n := range sizes {
		total += n
	}
	if len(want) != total {
		t.Fatalf("the log holds %d mappings, want %d", len(want), total)
	}
	var got []mask.Mapping
	var cursors []uint64
	err := s.Since(0, func(batch []mask.Mapping, next uint64) {
		for _, m := range batch {
			got = append(got, mask.Mapping{Kind: strings.Clone(m.Kind), Family: strings.Clone(m.Family),
				Original: strings.Clone(m.Original), Pseudonym: strings.Clone(m.Pseudonym)})
		}
		cursors = append(cursors, next)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d mappings, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mapping %d differs from a plain read of the log", i)
		}
	}
	if !slices.IsSorted(cursors) {
		t.Error("the cursor went back")
	}
	if last := cursors[len(cursors)-1]; last != uint64(len(sizes)) {
		t.Errorf("cursor after the load %d, want %d", last, len(sizes))
	}
	// a chunk larger than one batch: its first batches keep the cursor
	// of the chunk before
	if len(cursors) <= len(sizes) {
		t.Errorf("%d batches for %d chunks: no chunk was handed over in parts", len(cursors), len(sizes))
	}
}

// A damaged chunk among many stops the load with ErrDamaged, wherever it
// is, and the load returns (no worker is left waiting for a buffer).
func TestSinceStopsAtADamagedChunk(t *testing.T) {
	sizes := []int{300, 2, 700, 5, 600, 1, 900, 3, 400, 7}
	for _, bad := range []int{0, 4, len(sizes) - 1} {
		t.Run(fmt.Sprint("chunk", bad), func(t *testing.T) {
			dir := t.TempDir()
			storeOfChunks(t, dir, sizes)
			i := 0
			tamper(t, dir, bucketLog, func(k, v []byte) []byte {
				defer func() { i++ }()
				if i == bad {
					v = slices.Clone(v)
					v[len(v)/2] ^= 1
				}
				return v
			})
			s := openTest(t, dir)
			err := s.Since(0, func([]mask.Mapping, uint64) {})
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("got %v, want ErrDamaged", err)
			}
		})
	}
}

// A store cut short anywhere (half its size here, so the database's own
// pages are intact but the data it points to is gone) is reported as
// damaged by every reader, never a crash: opening it, loading its log, and
// looking up a batch.
func TestTruncatedStoreIsDamagedNotACrash(t *testing.T) {
	dir := t.TempDir()
	storeOfChunks(t, dir, []int{3000, 3000, 3000, 3000})
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{fi.Size() / 2, fi.Size() - 4096, 3 * 4096} {
		if err := os.Truncate(Path(dir), size); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, testKey)
		if err == nil {
			err = s.Since(0, func([]mask.Mapping, uint64) {})
		}
		if err == nil {
			_, _, err = s.LoadBatch("msgbatch_x")
		}
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("cut to %d of %d bytes: got %v, want ErrDamaged", size, fi.Size(), err)
		}
	}
}

// A file cut short while a transaction reads it (another program, a full
// disk) faults on the pages that are gone; the read ends as damaged, and
// the process goes on.
func TestFileCutDuringAReadIsDamagedNotACrash(t *testing.T) {
	dir := t.TempDir()
	s := storeOfChunks(t, dir, []int{3000, 3000, 3000})
	err := s.view(func(tx *bolt.Tx) error {
		if err := os.Truncate(Path(dir), 3*4096); err != nil {
			t.Fatal(err)
		}
		sum := 0
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			for _, c := range v {
				sum += int(c)
			}
			return nil
		})
	})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("got %v, want ErrDamaged", err)
	}
}

// A store file of no bytes (its creator stopped before writing anything)
// is written on the next open, under the key there is.
func TestEmptyStoreFileIsWritten(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engineOn(t, s).MaskBytes([]byte(sample), nil); err != nil {
		t.Fatal(err)
	}
}

// Stores of format 1 (lookup buckets only) and 2 (lookup buckets and the
// log) are brought to format 3 when opened: the lookup buckets are gone,
// every mapping is still found (the same originals get the same
// pseudonyms, nothing new is recorded), and restoring still works.
func TestOlderFormatsAreMigrated(t *testing.T) {
	for _, format := range []uint32{1, 2} {
		t.Run(fmt.Sprint("format", format), func(t *testing.T) {
			dir := t.TempDir()
			s := storeOfChunks(t, dir, []int{40, 3})
			e := engineOn(t, s)
			masked, err := e.MaskBytes([]byte(sample), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := reference(t, s)
			// write the store as the older format had it
			err = s.update(func(tx *bolt.Tx) error {
				fwd, err := tx.CreateBucket(bucketFwd)
				if err != nil {
					return err
				}
				rev, err := tx.CreateBucket(bucketRev)
				if err != nil {
					return err
				}
				for _, m := range want {
					fk, rk := s.fwdKey(m.Family, m.Original), s.revKey(m.Pseudonym)
					if err := fwd.Put(fk, s.seal(encodeRecord(m), fk)); err != nil {
						return err
					}
					if err := rev.Put(rk, s.seal(encodeRecord(m), rk)); err != nil {
						return err
					}
				}
				if format == 1 {
					if err := tx.DeleteBucket(bucketLog); err != nil {
						return err
					}
					if err := tx.DeleteBucket(bucketBatch); err != nil {
						return err
					}
				}
				var v [4]byte
				binary.BigEndian.PutUint32(v[:], format)
				return tx.Bucket(bucketMeta).Put(metaFormat, v[:])
			})
			if err != nil {
				t.Fatal(err)
			}
			s2 := openTest(t, dir)
			err = s2.view(func(tx *bolt.Tx) error {
				if tx.Bucket(bucketFwd) != nil || tx.Bucket(bucketRev) != nil {
					t.Error("the lookup buckets are still there")
				}
				if f := binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(metaFormat)); f != FormatVersion {
					t.Errorf("format %d after opening, want %d", f, FormatVersion)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := reference(t, s2); len(got) != len(want) {
				t.Fatalf("%d mappings after the migration, want %d", len(got), len(want))
			}
			again, err := engineOn(t, s2).MaskBytes([]byte(sample), nil)
			if err != nil || string(again) != string(masked) {
				t.Fatalf("masking after the migration differs (%v)", err)
			}
			if got := reference(t, s2); len(got) != len(want) {
				t.Errorf("masking known values after the migration recorded %d new mappings", len(got)-len(want))
			}
			back, err := unmaskAll(t, s2, masked)
			if err != nil || string(back) != sample {
				t.Errorf("restoring after the migration failed (%v)", err)
			}
		})
	}
}
