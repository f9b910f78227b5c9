package mask

import (
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// arena holds strings back to back in blocks that never move, so the
// index refers to them by offset: no pointer per value for the garbage
// collector to follow, no allocation per value when a large store loads.
type arena struct {
	blocks [][]byte
}

// ref locates a string in an arena.
type ref struct {
	block, off, n uint32
}

const arenaBlock = 1 << 20

func (a *arena) add(s string) ref {
	k := len(a.blocks) - 1
	if k < 0 || len(a.blocks[k])+len(s) > cap(a.blocks[k]) {
		a.blocks = append(a.blocks, make([]byte, 0, max(arenaBlock, len(s))))
		k++
	}
	b := a.blocks[k]
	off := len(b)
	a.blocks[k] = append(b, s...)
	return ref{block: uint32(k), off: uint32(off), n: uint32(len(s))}
}

// str returns the string r refers to, without copying it: arena bytes are
// never written again once added.
func (a *arena) str(r ref) string {
	if r.n == 0 {
		return ""
	}
	b := a.blocks[r.block]
	return unsafe.String(&b[r.off], r.n)
}

// htab is an open-addressing hash table from a 64-bit hash to an id; the
// caller says which id holds the key it looks for. Inserts can wait
// (defer_) and then go in together, in slot order, which touches the table's
// memory front to back once instead of at random: loading a store of
// 150,000 mappings is mostly that.
type htab struct {
	slots   []hslot
	n       int
	pending blocks[hslot]
	defer_  bool
}

type hslot struct {
	hash uint32
	id   uint32 // id+1; 0 marks an empty slot
}

var hashSeed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(hashSeed, s) }

func (h *htab) insert(hash uint64, id uint32) {
	if h.defer_ {
		h.pending.add(hslot{hash: uint32(hash), id: id + 1})
		return
	}
	if (h.n+1)*2 > len(h.slots) {
		h.grow()
	}
	h.put(uint32(hash), id)
	h.n++
}

// flush inserts what waited, and stops deferring.
func (h *htab) flush() {
	h.defer_ = false
	pend := h.pending
	h.pending.reset()
	if pend.len() < 4096 {
		for _, b := range pend.b {
			for _, s := range b {
				h.insert(uint64(s.hash), s.id-1)
			}
		}
		return
	}
	// size for everything, then insert old and new in slot order: one
	// counting pass on the top bits of the slot a hash starts at puts
	// them in order of windows of a few cache lines, which is all the
	// order the inserts need
	size := 64
	for size*3 < 5*(h.n+pend.len()) { // at most 60% full
		size *= 2
	}
	shift := uint(bits.Len(uint(size-1))) - min(uint(bits.Len(uint(size-1))), windowBits)
	window := func(hash uint32) uint32 { return hash & uint32(size-1) >> shift }
	var start [1<<windowBits + 1]uint32
	each := func(f func(hslot)) {
		for _, b := range pend.b {
			for _, s := range b {
				f(s)
			}
		}
		for _, s := range h.slots {
			if s.id != 0 {
				f(s)
			}
		}
	}
	each(func(s hslot) { start[window(s.hash)+1]++ })
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	ordered := writable(make([]hslot, start[len(start)-1]))
	each(func(s hslot) {
		w := window(s.hash)
		ordered[start[w]] = s
		start[w]++
	})
	h.slots = writable(make([]hslot, size))
	h.n = len(ordered)
	for _, s := range ordered {
		h.put(s.hash, s.id-1)
	}
}

// windowBits is how many top bits of a slot number the inserts of a flush
// are ordered by: 4,096 windows, so the counts stay in the first-level cache.
const windowBits = 12

// writable writes to each page of a new slice before anything reads it:
// a fresh page that is read first is mapped to the zero page, and the
// write that follows costs a second fault and a flush of every core's TLB.
func writable(s []hslot) []hslot {
	for i := 0; i < len(s); i += 4096 / 8 {
		s[i] = hslot{}
	}
	return s
}

func (h *htab) put(hash, id uint32) {
	m := uint32(len(h.slots) - 1)
	for i := hash & m; ; i = (i + 1) & m {
		if h.slots[i].id == 0 {
			h.slots[i] = hslot{hash: hash, id: id + 1}
			return
		}
	}
}

func (h *htab) grow() {
	old := h.slots
	h.slots = make([]hslot, max(64, 2*len(old)))
	for _, s := range old {
		if s.id != 0 {
			h.put(s.hash, s.id-1)
		}
	}
}

// first is the slot where a walk over the slots that may hold hash
// starts; at reads each slot and says whether the walk goes on.
func (h *htab) first(hash uint64) uint32 {
	if len(h.slots) == 0 {
		return 0
	}
	return uint32(hash) & uint32(len(h.slots)-1)
}

// at returns the id in slot i if its hash matches (ok), and whether the
// walk goes on past it (more).
func (h *htab) at(i uint32, hash uint64) (id uint32, ok, more bool) {
	if len(h.slots) == 0 {
		return 0, false, false
	}
	s := h.slots[i]
	if s.id == 0 {
		return 0, false, false
	}
	return s.id - 1, s.hash == uint32(hash), true
}

func (h *htab) next(i uint32) uint32 { return (i + 1) & uint32(len(h.slots)-1) }

// unsafeString views b as a string for a lookup; the string must not
// outlive b's contents.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// blocks is a growing list kept in fixed-size blocks: appending never
// copies what is already there (a large store's index grows to hundreds
// of thousands of entries while it loads).
type blocks[T any] struct {
	b [][]T
	n int
}

const blockLen = 1 << 12

func (s *blocks[T]) add(v T) int {
	if s.n%blockLen == 0 {
		s.b = append(s.b, make([]T, 0, blockLen))
	}
	k := len(s.b) - 1
	s.b[k] = append(s.b[k], v)
	s.n++
	return s.n - 1
}

func (s *blocks[T]) at(i int) *T { return &s.b[i/blockLen][i%blockLen] }

func (s *blocks[T]) len() int { return s.n }

func (s *blocks[T]) reset() { s.b, s.n = nil, 0 }
