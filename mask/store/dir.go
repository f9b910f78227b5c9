package store

import (
	"encoding/binary"
	"hash/maphash"
	mbits "math/bits"
	"strings"

	"github.com/claude-secure/claude-secure/mask"
	bolt "go.etcd.io/bbolt"
)

// directory finds, without a lookup index on disk, where in the log a
// mapping lies: for every mapping recorded, three hashes (of its original
// in its family, of its pseudonym, of its original in any family) point to
// the log chunk that holds it. It lives in memory, is read from the log
// the first time it is needed, and catches up with the chunks other
// processes appended at the start of every transaction that uses it. A
// hash only says where to look: the chunk is opened and the record
// compared, so a collision costs a read, never a wrong answer.
type directory struct {
	cursor uint64 // the last log chunk read
	fwd    seqTable
	rev    seqTable
	orig   seqTable
	// several chunks for one hash (a collision, or one original recorded
	// in two families): all of them
	multi map[uint64][]uint32
	bulk  []bulkEntry // while a whole log is read
}

var dirSeed = maphash.MakeSeed()

// The three hashes of a mapping, from its fields as bytes: reading a
// large log into the directory allocates nothing per record.
func fwdHash(family, original []byte) uint64 {
	return maphash.Bytes(dirSeed, original) ^ (maphash.Bytes(dirSeed, family)+1)*0x9e3779b97f4a7c15
}

func revHash(pseudonym []byte) uint64 { return maphash.Bytes(dirSeed, pseudonym) * 0xff51afd7ed558ccd }

func origHash(original []byte) uint64 { return maphash.Bytes(dirSeed, original) }

func (d *directory) add(family, original, pseudonym []byte, seq uint32) {
	if d.bulk != nil {
		// reading a whole log: the tables are built at the end, in order
		d.bulk = append(d.bulk, bulkEntry{fwdHash(family, original), revHash(pseudonym), origHash(original), seq})
		return
	}
	d.put(&d.fwd, fwdHash(family, original), seq)
	d.put(&d.rev, revHash(pseudonym), seq)
	d.put(&d.orig, origHash(original), seq)
}

type bulkEntry struct {
	fwd, rev, orig uint64
	seq            uint32
}

// flushBulk builds the tables from what add collected, each in the order
// of its slots: the table's memory is written front to back instead of at
// random (a store of 150,000 mappings: three times 450,000 cache misses
// otherwise).
func (d *directory) flushBulk() {
	b := d.bulk
	d.bulk = nil
	for _, tab := range []struct {
		t   *seqTable
		key func(bulkEntry) uint64
	}{
		{&d.fwd, func(e bulkEntry) uint64 { return e.fwd }},
		{&d.rev, func(e bulkEntry) uint64 { return e.rev }},
		{&d.orig, func(e bulkEntry) uint64 { return e.orig }},
	} {
		tab.t.reserve(tab.t.n + len(b))
		// one counting pass on the top bits of the slot a hash starts at:
		// windows of a few cache lines, all the order the inserts need
		bitsN := uint(mbits.Len(uint(len(tab.t.keys) - 1)))
		shift := bitsN - min(bitsN, 12)
		m := uint64(len(tab.t.keys) - 1)
		var start [1<<12 + 1]int
		for _, e := range b {
			start[(tab.key(e)&m)>>shift+1]++
		}
		for i := 1; i < len(start); i++ {
			start[i] += start[i-1]
		}
		ordered := make([]bulkEntry, len(b))
		for _, e := range b {
			w := (tab.key(e) & m) >> shift
			ordered[start[w]] = e
			start[w]++
		}
		for _, e := range ordered {
			d.put(tab.t, tab.key(e), e.seq)
		}
	}
}

// put records that the record of hash h in t is in chunk seq.
func (d *directory) put(t *seqTable, h uint64, seq uint32) {
	old, ok := t.get(h)
	switch {
	case !ok:
		t.set(h, seq)
	case old == seq:
	case old == 0:
		d.multi[h] = append(d.multi[h], seq)
	default:
		t.set(h, 0) // see multi
		if d.multi == nil {
			d.multi = map[uint64][]uint32{}
		}
		d.multi[h] = append(d.multi[h], old, seq)
	}
}

// chunks returns the chunks that may hold a record with hash h in t.
func (d *directory) chunks(t *seqTable, h uint64) []uint32 {
	seq, ok := t.get(h)
	switch {
	case !ok:
		return nil
	case seq == 0:
		return d.multi[h]
	}
	return []uint32{seq}
}

// seqTable maps a hash to a chunk sequence number: open addressing, at
// most half full (a store of 400,000 mappings reads into its three tables
// in milliseconds, and they hold 12 bytes a slot).
type seqTable struct {
	keys []uint64 // 0: empty (a hash of 0 is stored as 1)
	vals []uint32
	n    int
}

func (t *seqTable) get(h uint64) (uint32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	h = max(h, 1)
	m := uint64(len(t.keys) - 1)
	for i := h & m; ; i = (i + 1) & m {
		switch t.keys[i] {
		case h:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

// reserve makes room for n entries.
func (t *seqTable) reserve(n int) {
	if 2*n <= len(t.keys) {
		return
	}
	size := max(1024, len(t.keys))
	for 2*n > size {
		size *= 2
	}
	old, oldv := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint64, size), make([]uint32, size), 0
	for i, k := range old {
		if k != 0 {
			t.set(k, oldv[i])
		}
	}
}

func (t *seqTable) set(h uint64, v uint32) {
	t.reserve(t.n + 1)
	h = max(h, 1)
	m := uint64(len(t.keys) - 1)
	for i := h & m; ; i = (i + 1) & m {
		switch t.keys[i] {
		case h:
			t.vals[i] = v
			return
		case 0:
			t.keys[i], t.vals[i] = h, v
			t.n++
			return
		}
	}
}

// dirTx is the directory in one transaction: it opens the chunks its
// answers need, once each.
type dirTx struct {
	s      *Store
	tx     *bolt.Tx
	opened map[uint32][]mask.Mapping
}

// withDir runs fn inside a transaction with the directory up to date and
// held for it.
func (s *Store) withDir(fn func(*dirTx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		s.dirMu.Lock()
		defer s.dirMu.Unlock()
		d, err := s.catchUp(tx)
		if err != nil {
			return err
		}
		return fn(d)
	}
}

// catchUp reads into the directory the log chunks appended after its
// cursor. The caller holds s.dirMu.
func (s *Store) catchUp(tx *bolt.Tx) (*dirTx, error) {
	b := tx.Bucket(bucketLog)
	if b == nil {
		return nil, ErrDamaged
	}
	d := &s.dir
	if b.Sequence() < d.cursor {
		*d = directory{} // the store was replaced: read it all again
	}
	if d.bulk == nil && d.fwd.n == 0 {
		d.bulk = []bulkEntry{}
	}
	defer func() {
		if d.bulk != nil {
			d.flushBulk()
		}
	}()
	err := s.eachChunk(tx, d.cursor, func(seq uint64, c chunk) error {
		for i := range c.len() {
			d.add(c.field(i, 1), c.field(i, 2), c.field(i, 3), uint32(seq))
		}
		d.cursor = seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &dirTx{s: s, tx: tx, opened: map[uint32][]mask.Mapping{}}, nil
}

func (t *dirTx) chunk(seq uint32) ([]mask.Mapping, error) {
	if ms, ok := t.opened[seq]; ok {
		return ms, nil
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(seq))
	v := t.tx.Bucket(bucketLog).Get(k[:])
	if v == nil {
		return nil, ErrDamaged
	}
	plain, err := t.s.openChunk(nil, k[:], v)
	if err != nil {
		return nil, err
	}
	c, err := parseChunk(plain, nil)
	if err != nil {
		return nil, err
	}
	ms, _, _ := c.mappings(make([]mask.Mapping, 0, len(c.fields)/8), 0)
	for i := range ms {
		ms[i] = mask.Mapping{Kind: strings.Clone(ms[i].Kind), Family: strings.Clone(ms[i].Family),
			Original: strings.Clone(ms[i].Original), Pseudonym: strings.Clone(ms[i].Pseudonym)}
	}
	t.opened[seq] = ms
	return ms, nil
}

// find returns the first record in the chunks of hash h in table tab that
// match says is the one.
func (t *dirTx) find(tab *seqTable, h uint64, match func(mask.Mapping) bool) (mask.Mapping, bool, error) {
	for _, seq := range t.s.dir.chunks(tab, h) {
		ms, err := t.chunk(seq)
		if err != nil {
			return mask.Mapping{}, false, err
		}
		for _, m := range ms {
			if match(m) {
				return m, true, nil
			}
		}
	}
	return mask.Mapping{}, false, nil
}

// byOriginal returns the mapping of original in family.
func (t *dirTx) byOriginal(family, original string) (mask.Mapping, bool, error) {
	return t.find(&t.s.dir.fwd, fwdHash([]byte(family), []byte(original)), func(m mask.Mapping) bool {
		return m.Family == family && m.Original == original
	})
}

// byPseudonym returns the mapping that issued pseudonym.
func (t *dirTx) byPseudonym(pseudonym string) (mask.Mapping, bool, error) {
	return t.find(&t.s.dir.rev, revHash([]byte(pseudonym)), func(m mask.Mapping) bool { return m.Pseudonym == pseudonym })
}

// isOriginal reports whether v is an original, in any family.
func (t *dirTx) isOriginal(v string) (bool, error) {
	_, ok, err := t.find(&t.s.dir.orig, origHash([]byte(v)), func(m mask.Mapping) bool { return m.Original == v })
	return ok, err
}
