package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// The log holds every mapping once more, in the order they were recorded,
// sealed a transaction's worth at a time, so that a process can load the
// whole index into memory with one decryption per chunk (see Since)
// instead of one per record.
var (
	bucketLog   = []byte("log")
	bucketBatch = []byte("batch")
)

// logChunk is the most records one sealed chunk holds when a store is
// migrated; a transaction that issues more writes them in one chunk.
const logChunk = 4096

func logAD(key []byte) []byte { return append([]byte("log\x00"), key...) }

// appendLog seals ms as the log's next chunk.
func (s *Store) appendLog(tx *bolt.Tx, ms []mask.Mapping) error {
	if len(ms) == 0 {
		return nil
	}
	b := tx.Bucket(bucketLog)
	if b == nil {
		return ErrDamaged
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	plain := binary.AppendUvarint(nil, uint64(len(ms)))
	for _, m := range ms {
		r := encodeRecord(m)
		plain = binary.AppendUvarint(plain, uint64(len(r)))
		plain = append(plain, r...)
	}
	return b.Put(key[:], s.seal(plain, logAD(key[:])))
}

// openChunk decrypts one log chunk into dst's memory.
func (s *Store) openChunk(dst, key, v []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(v) < ns+s.aead.Overhead() {
		return nil, ErrDamaged
	}
	plain, err := s.aead.Open(dst[:0], v[:ns], v[ns:], logAD(key))
	if err != nil {
		return nil, ErrDamaged
	}
	return plain, nil
}

// chunk is an opened log chunk and where the fields of its records lie:
// eight numbers a record, the offset and length of its kind, family,
// original and pseudonym. It holds no pointers but one, so a store's
// worth of them costs the collector nothing to keep.
type chunk struct {
	plain  []byte
	fields []uint32
}

// parseChunk reads an opened log chunk, its fields into fields' memory.
func parseChunk(plain []byte, fields []uint32) (chunk, error) {
	n, k := binary.Uvarint(plain)
	if k <= 0 || n > uint64(len(plain)) {
		return chunk{}, ErrDamaged
	}
	c := chunk{plain: plain, fields: slices.Grow(fields[:0], int(8*n))}
	at := k
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(plain[at:])
		if k <= 0 || uint64(len(plain)-at-k) < l {
			return chunk{}, ErrDamaged
		}
		var err error
		if c.fields, err = recordFields(plain[at+k:at+k+int(l)], at+k, c.fields); err != nil {
			return chunk{}, err
		}
		at += k + int(l)
	}
	if at != len(plain) {
		return chunk{}, ErrDamaged
	}
	return c, nil
}

// len is the number of records in the chunk.
func (c chunk) len() int { return len(c.fields) / 8 }

// field returns field k (0 kind, 1 family, 2 original, 3 pseudonym) of
// record i, without a copy.
func (c chunk) field(i, k int) []byte {
	f := c.fields[8*i+2*k:]
	return c.plain[f[0] : f[0]+f[1]]
}

// eachChunk opens and reads, in order, the log chunks after sequence
// number after, into one buffer used again: c is valid only during fn.
func (s *Store) eachChunk(tx *bolt.Tx, after uint64, fn func(seq uint64, c chunk) error) error {
	b := tx.Bucket(bucketLog)
	if b == nil {
		return ErrDamaged
	}
	var from [8]byte
	binary.BigEndian.PutUint64(from[:], after+1)
	var buf chunk
	cur := b.Cursor()
	for k, v := cur.Seek(from[:]); k != nil; k, v = cur.Next() {
		if len(k) != 8 {
			return ErrDamaged
		}
		plain, err := s.openChunk(buf.plain, k, v)
		if err == nil {
			buf, err = parseChunk(plain, buf.fields)
		}
		if err != nil {
			return err
		}
		if err := fn(binary.BigEndian.Uint64(k), buf); err != nil {
			return err
		}
	}
	return nil
}

// mappings appends the chunk's records from record number at to out,
// until out is full, and returns where it stopped and whether records are
// left; their strings point into the chunk.
func (c chunk) mappings(out []mask.Mapping, at int) ([]mask.Mapping, int, bool) {
	str := func(off, n uint32) string {
		if n == 0 {
			return ""
		}
		return unsafe.String(&c.plain[off], int(n))
	}
	f := c.fields
	for ; 8*at+8 <= len(f) && len(out) < cap(out); at++ {
		i := 8 * at
		out = append(out, mask.Mapping{Kind: str(f[i], f[i+1]), Family: str(f[i+2], f[i+3]),
			Original: str(f[i+4], f[i+5]), Pseudonym: str(f[i+6], f[i+7])})
	}
	return out, at, 8*at+8 <= len(f)
}

// fileState is what tells, without opening the database, that the store
// file has not been written since it was last read.
type fileState struct {
	size  int64
	mtime time.Time
	ok    bool
}

func statFile(path string) fileState {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	return fileState{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// Since implements mask.Mappings: the mappings recorded in log chunks after
// cursor (the sequence number of the last chunk read). When the store file
// is as it was at the last call that returned cursor, it answers without
// opening the database.
func (s *Store) Since(cursor uint64, each func([]mask.Mapping, uint64)) error {
	return s.SinceContext(context.Background(), cursor, each)
}

// SinceContext implements mask.ContextMappings: Since that stops waiting
// for the store when ctx is done, and then returns ctx's error.
func (s *Store) SinceContext(ctx context.Context, cursor uint64, each func([]mask.Mapping, uint64)) error {
	st := statFile(s.path)
	s.mu.Lock()
	unchanged := cursor != 0 && cursor == s.sinceCursor && st.ok && st == s.sinceState
	s.mu.Unlock()
	if unchanged {
		return nil
	}
	next := cursor
	err := s.viewContext(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		if b == nil {
			return ErrDamaged
		}
		if b.Sequence() < cursor {
			cursor = 0 // the store was replaced: read it all again
		}
		var from [8]byte
		binary.BigEndian.PutUint64(from[:], cursor+1)
		var chunks [][2][]byte
		c := b.Cursor()
		for k, v := c.Seek(from[:]); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return ErrDamaged
			}
			chunks = append(chunks, [2][]byte{k, v})
		}
		// open and read the chunks on two goroutines while the index takes
		// them in order. A few buffers go round: a chunk is opened into
		// one that the index has finished with, so loading a large store
		// touches a few chunks' worth of fresh memory, not the whole log
		// (fresh pages cost a fault each, as much as the decryption). A
		// chunk takes its buffer in chunk order, so the one the index
		// waits for always has one.
		type result struct {
			c    chunk
			err  error
			done chan struct{}
		}
		res := make([]result, len(chunks))
		for i := range res {
			res[i].done = make(chan struct{})
		}
		free := make(chan chunk, 3)
		for range cap(free) {
			free <- chunk{}
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			todo int
		)
		stop := make(chan struct{})
		defer func() {
			close(stop)
			wg.Wait()
		}()
		for range 2 {
			wg.Go(func() {
				for {
					mu.Lock()
					i := todo
					var buf chunk
					if i < len(chunks) {
						select {
						case buf = <-free:
						case <-stop:
							i = len(chunks)
						}
					}
					todo = i + 1
					mu.Unlock()
					if i >= len(chunks) {
						return
					}
					res[i].err = s.guard(func() error {
						// the chunk is read from the mapped file
						plain, err := s.openChunk(buf.plain, chunks[i][0], chunks[i][1])
						if err == nil {
							res[i].c, err = parseChunk(plain, buf.fields)
						}
						return err
					})
					close(res[i].done)
				}
			})
		}
		// the index takes a chunk in batches of one small slice used
		// again and again; the cursor moves on with a chunk's last batch
		batch := make([]mask.Mapping, 0, 512)
		for i := range chunks {
			<-res[i].done
			if res[i].err != nil {
				return res[i].err
			}
			c := res[i].c
			for at := 0; ; {
				var more bool
				batch, at, more = c.mappings(batch[:0], at)
				if !more {
					next = binary.BigEndian.Uint64(chunks[i][0])
				}
				each(batch, next)
				if !more {
					break
				}
			}
			free <- c
			res[i].c = chunk{}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sinceCursor, s.sinceState = next, st
	s.mu.Unlock()
	return nil
}

// migrate brings an older store to the current format in one
// transaction: format 1 has no log, so every mapping is written to it
// from the lookup bucket first; from format 2 on, the log holds every
// mapping, and the lookup buckets (an HMAC-keyed copy of every mapping in
// each direction, most of the file) are dropped: the directory finds
// mappings in the log.
func (s *Store) migrate(tx *bolt.Tx) error {
	if tx.Bucket(bucketLog) == nil {
		if _, err := tx.CreateBucket(bucketLog); err != nil {
			return err
		}
		var chunk []mask.Mapping
		err := tx.Bucket(bucketFwd).ForEach(func(k, v []byte) error {
			r, err := s.record(v, k)
			if err != nil {
				return err
			}
			chunk = append(chunk, r)
			if len(chunk) == logChunk {
				err = s.appendLog(tx, chunk)
				chunk = chunk[:0]
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := s.appendLog(tx, chunk); err != nil {
			return err
		}
	}
	if _, err := tx.CreateBucketIfNotExists(bucketBatch); err != nil {
		return err
	}
	for _, b := range [][]byte{bucketFwd, bucketRev} {
		if tx.Bucket(b) != nil {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], FormatVersion)
	return tx.Bucket(bucketMeta).Put(metaFormat, v[:])
}

func (s keys) batchKey(id string) []byte {
	m := hmac.New(sha256.New, s.idx)
	m.Write([]byte("batch\x00"))
	m.Write([]byte(id))
	return m.Sum(nil)
}

// SaveBatch records the pseudonyms a message batch's results may restore.
// The sealed value holds the batch id too, so a key rotation can compute
// its new lookup key.
func (s *Store) SaveBatch(id string, pseudonyms []string) error {
	plain := encodeBatch(id, pseudonyms)
	k := s.batchKey(id)
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBatch)
		if b == nil {
			return ErrDamaged
		}
		return b.Put(k, s.seal(plain, k))
	})
}

// LoadBatch returns what SaveBatch recorded for a batch.
func (s *Store) LoadBatch(id string) ([]string, bool, error) {
	k := s.batchKey(id)
	var out []string
	found := false
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBatch)
		if b == nil {
			return ErrDamaged
		}
		v := b.Get(k)
		if v == nil {
			return nil
		}
		plain, err := s.open(v, k)
		if err != nil {
			return err
		}
		out, err = decodeBatch(plain)
		found = err == nil
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("failed to read a batch's restore set: %w", err)
	}
	return out, found, nil
}

// encodeBatch is a batch's sealed value before sealing: its id (so a key
// rotation can compute its new lookup key), then its pseudonyms, each as a
// uvarint length and the bytes.
func encodeBatch(id string, pseudonyms []string) []byte {
	plain := binary.AppendUvarint(nil, uint64(len(id)))
	plain = append(plain, id...)
	for _, p := range pseudonyms {
		plain = binary.AppendUvarint(plain, uint64(len(p)))
		plain = append(plain, p...)
	}
	return plain
}

// decodeBatch reads the pseudonyms of an opened batch value.
func decodeBatch(plain []byte) ([]string, error) {
	_, plain, err := batchID(plain)
	if err != nil {
		return nil, err
	}
	var out []string
	for len(plain) > 0 {
		l, n := binary.Uvarint(plain)
		if n <= 0 || uint64(len(plain)-n) < l {
			return nil, ErrDamaged
		}
		out = append(out, string(plain[n:n+int(l)]))
		plain = plain[n+int(l):]
	}
	return out, nil
}

// batchID splits a sealed batch value into its id and the rest.
func batchID(plain []byte) (string, []byte, error) {
	l, n := binary.Uvarint(plain)
	if n <= 0 || uint64(len(plain)-n) < l {
		return "", nil, ErrDamaged
	}
	return string(plain[n : n+int(l)]), plain[n+int(l):], nil
}
