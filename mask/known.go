package mask

import (
	"encoding/binary"
	"math/bits"
	"sort"
)

// tokenTable finds known values — originals the store learned, or
// pseudonyms it issued — wherever they stand in a view as whole tokens:
// a value never starts or ends in the middle of a word (letters, digits
// and '_' on both sides of its edge). Among values that overlap, the one
// that starts first wins, then the longest.
//
// Every value is anchored at its first word character, which in the text
// must be the start of a word. The table keeps a small bit filter over the
// four bytes at each anchor, so most words of ordinary text cost one load,
// one multiply and one bit test; only a word that passes is looked up.
type tokenTable struct {
	vals   map[string]int32   // value → caller's id
	shapes map[uint32][]shape // the four bytes at the anchor → the shapes of values that start with them
	filter []uint64
	fbits  uint // log2 of the filter's size in bits
	maxLen int  // the longest value
	maxA   int  // the largest anchor offset
	sorted []string
	dirty  bool // sorted needs rebuilding
	// prefixes says whether sorted is kept, for exact hold-back in
	// streams; without it a stream holds back conservatively
	prefixes bool
}

// shape is where a value's anchor sits in it and how long it is.
type shape struct {
	a uint8
	n uint16
}

// minToken is the length below which a value is never matched bare: such
// values (db, web, x86) are everyday words and their pseudonyms could be
// too.
const minToken = 4

// maxAnchor bounds how many non-word bytes may open a value.
const maxAnchor = 8

func newTokenTable(prefixes bool) *tokenTable {
	t := &tokenTable{vals: map[string]int32{}, shapes: map[uint32][]shape{}, prefixes: prefixes}
	t.resize(12)
	return t
}

// anchorOf returns where v's first word character is, or -1 if v cannot
// be matched bare.
func anchorOf(v string) int {
	for a := 0; a < len(v) && a <= maxAnchor; a++ {
		if isWord(v[a]) {
			if len(v)-a < minToken {
				return -1
			}
			return a
		}
	}
	return -1
}

// add records v with id; it reports false (and records nothing) when v
// cannot be matched bare.
func (t *tokenTable) add(v string, id int32) bool {
	a := anchorOf(v)
	if a < 0 || len(v) > 1<<16-1 {
		return false
	}
	if _, ok := t.vals[v]; ok {
		t.vals[v] = id
		return true
	}
	t.vals[v] = id
	key := binary.LittleEndian.Uint32([]byte(v[a : a+4]))
	sh := shape{a: uint8(a), n: uint16(len(v))}
	list := t.shapes[key]
	found := false
	for _, s := range list {
		if s == sh {
			found = true
			break
		}
	}
	if !found {
		list = append(list, sh)
		// earliest start first (largest anchor offset), then longest
		sort.Slice(list, func(i, j int) bool {
			if list[i].a != list[j].a {
				return list[i].a > list[j].a
			}
			return list[i].n > list[j].n
		})
		t.shapes[key] = list
		if len(t.shapes) > 1<<(t.fbits-4) {
			t.resize(t.fbits + 1)
		} else {
			t.setBit(key)
		}
	}
	t.maxLen = max(t.maxLen, len(v))
	t.maxA = max(t.maxA, a)
	if t.prefixes {
		t.sorted = append(t.sorted, v)
		t.dirty = true
	}
	return true
}

// resize rebuilds the filter with 2^b bits, at least 16 per anchor.
func (t *tokenTable) resize(b uint) {
	for len(t.shapes) > 1<<(b-4) {
		b++
	}
	t.fbits = b
	t.filter = make([]uint64, 1<<(b-6))
	for k := range t.shapes {
		t.setBit(k)
	}
}

func (t *tokenTable) hash(key uint32) uint32 {
	return (key * 0x9e3779b1) >> (32 - t.fbits)
}

func (t *tokenTable) setBit(key uint32) {
	h := t.hash(key)
	t.filter[h>>6] |= 1 << (h & 63)
}

func (t *tokenTable) len() int { return len(t.vals) }

// match is one known value found in a view.
type match struct {
	start, end int
	id         int32
}

// scan finds the known values in d[lo:] as whole tokens and appends them to
// out, leaving out those that overlap a span of avoid (sorted). Unless
// final, it also returns the position from which the answer could change
// with more input; matches all end before it.
func (t *tokenTable) scan(d []byte, lo int, final bool, avoid []Span, out []match) ([]match, int) {
	hold := len(d)
	if len(t.vals) == 0 {
		return out, hold
	}
	n := len(d)
	next := lo // no match may start before next
	ai := 0
	// try looks for a value anchored at the word start p; it returns the
	// end of the match or 0
	try := func(p int) {
		if p+4 > n {
			if !final && p-t.maxA < hold {
				hold = max(p-t.maxA, next)
			}
			return
		}
		key := binary.LittleEndian.Uint32(d[p:])
		h := t.hash(key)
		if t.filter[h>>6]&(1<<(h&63)) == 0 {
			return
		}
		for _, sh := range t.shapes[key] {
			s, e := p-int(sh.a), p-int(sh.a)+int(sh.n)
			if s < next || s < 0 {
				continue
			}
			if e > n {
				if !final && s < hold && t.mayExtend(d[s:]) {
					hold = s
				}
				continue
			}
			if e == n && !final {
				// whether a word goes on after it is not known yet
				if _, ok := t.vals[string(d[s:e])]; ok && s < hold {
					hold = s
				}
				continue
			}
			if e < n && isWord(d[e-1]) && isWord(d[e]) {
				continue
			}
			id, ok := t.vals[string(d[s:e])]
			if !ok {
				continue
			}
			for ai < len(avoid) && avoid[ai].End <= s {
				ai++
			}
			if ai < len(avoid) && avoid[ai].Start < e {
				continue
			}
			if s >= hold {
				return
			}
			out = append(out, match{start: s, end: e, id: id})
			next = e
			return
		}
	}
	forWordStarts(d, lo, func(p int) bool {
		if p >= hold {
			return false
		}
		if p >= next {
			try(p)
		}
		return true
	})
	// a value that opens with non-word bytes may start in the text's
	// last bytes, before its anchor has arrived
	if !final && t.maxA > 0 {
		r := n
		for r > lo && n-r < t.maxA && !isWord(d[r-1]) {
			r--
		}
		for s := r; s < n && s < hold; s++ {
			if s >= next && t.mayExtend(d[s:]) {
				hold = s
				break
			}
		}
	}
	// a match found before the hold point but ending after it is decided
	// again with more input
	for len(out) > 0 && out[len(out)-1].end > hold {
		out = out[:len(out)-1]
	}
	return out, hold
}

// mayExtend reports whether some value could start with prefix.
func (t *tokenTable) mayExtend(prefix []byte) bool {
	if !t.prefixes {
		return true
	}
	if t.dirty {
		sort.Strings(t.sorted)
		t.dirty = false
	}
	lo, hi := 0, len(t.sorted)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.sorted[m] < string(prefix) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(t.sorted) && len(t.sorted[lo]) > len(prefix) && t.sorted[lo][:len(prefix)] == string(prefix)
}

// forWordStarts calls fn with every position p >= lo where a word starts:
// d[p] is a word byte and d[p-1] is not, or d[p-1] ends an escape unit
// (\n, \u00a0) of the text as read; until fn returns false.
func forWordStarts(d []byte, lo int, fn func(int) bool) {
	n := len(d)
	i := lo &^ 7
	var prev uint64 // word bits of the previous block's last byte
	if i > 0 && isWord(d[i-1]) {
		prev = 1 << 63
	}
	for ; i < n; i += 8 {
		var m uint64
		if i+8 <= n {
			m = wordBits(binary.LittleEndian.Uint64(d[i:]))
		} else {
			for k := i; k < n; k++ {
				if isWord(d[k]) {
					m |= 1 << (8*(k-i) + 7)
				}
			}
		}
		starts := m &^ (m<<8 | prev>>56)
		prev = m
		for starts != 0 {
			p := i + bits.TrailingZeros64(starts)>>3
			starts &= starts - 1
			if p >= lo && !fn(p) {
				return
			}
			// after a backslash, the word may also start after the escape
			// unit it opens (\nAKIA…, \u00a0host)
			if p > 0 && d[p-1] == '\\' && oddBackslashes(d, p-1) {
				q := p + 1
				if d[p] == 'u' && p+5 <= n && isHexAny(d[p+1]) && isHexAny(d[p+2]) && isHexAny(d[p+3]) && isHexAny(d[p+4]) {
					q = p + 5
				}
				if q >= lo && q < n && isWord(d[q]) && !fn(q) {
					return
				}
			}
		}
	}
}

// wordBits has the high bit of each byte of x (little-endian) set where
// the byte is a word byte: [0-9A-Za-z_].
func wordBits(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	in := func(lo, hi uint64) uint64 {
		return (y + (0x80-lo)*ones) &^ (y + (0x7f-hi)*ones)
	}
	m := in('0', '9') | in('A', 'Z') | in('a', 'z') | in('_', '_')
	return m & highs &^ x
}
