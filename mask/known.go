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
	ar      *arena // where added values live (the index's own)
	own     arena  // values added as strings
	entries blocks[tokEntry]
	vals    htab               // hash of the value → entry
	shapes  map[uint32][]shape // the four bytes at the anchor → the shapes of values that start with them
	filter  anchorFilter
	fbits   uint     // log2 of the filter's size in bits
	maxLen  int      // the longest value
	maxA    int      // the largest anchor offset
	sorted  []uint32 // entries in value order, when prefixes is set
	dirty   bool     // sorted needs rebuilding
	// prefixes says whether sorted is kept, for exact hold-back in
	// streams; without it a stream holds back conservatively
	prefixes bool
}

type tokEntry struct {
	v   ref
	own bool
	id  int32
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

// newTokenTable returns an empty table whose addRef values live in ar
// (nil: values are only added as strings).
func newTokenTable(ar *arena, prefixes bool) *tokenTable {
	t := &tokenTable{ar: ar, shapes: map[uint32][]shape{}, prefixes: prefixes}
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

func (t *tokenTable) value(ei uint32) string {
	e := t.entries.at(int(ei))
	if e.own {
		return t.own.str(e.v)
	}
	return t.ar.str(e.v)
}

// lookup returns the id of value v.
func (t *tokenTable) lookup(v []byte) (int32, bool) {
	ei, ok := t.entryOf(hashBytes(v), unsafeString(v))
	if !ok {
		return 0, false
	}
	return t.entries.at(int(ei)).id, true
}

func (t *tokenTable) entryOf(h uint64, v string) (uint32, bool) {
	for i := t.vals.first(h); ; i = t.vals.next(i) {
		ei, ok, more := t.vals.at(i, h)
		if !more {
			return 0, false
		}
		if ok && t.value(ei) == v {
			return ei, true
		}
	}
}

// add records v, copied into the table, with id; it reports false (and
// records nothing) when v cannot be matched bare.
func (t *tokenTable) add(v string, id int32) bool {
	if anchorOf(v) < 0 || len(v) > 1<<16-1 {
		return false
	}
	return t.insert(v, tokEntry{v: t.own.add(v), own: true, id: id}, true)
}

// addDashed records the dashed form of a dotted address (10.1.2.3 as
// 10-1-2-3) with id.
func (t *tokenTable) addDashed(dotted string, id int32) bool {
	r := t.own.add(dotted)
	b := t.own.blocks[r.block][r.off : r.off+r.n]
	for i, c := range b {
		if c == '.' {
			b[i] = '-'
		}
	}
	v := t.own.str(r)
	if anchorOf(v) < 0 {
		return false
	}
	return t.insert(v, tokEntry{v: r, own: true, id: id}, false)
}

// addRef records the arena string r with id. Unless dedup is set, the
// caller knows the table does not hold the value yet (or does not mind a
// second entry for it: the first one found wins).
func (t *tokenTable) addRef(r ref, id int32, dedup bool) bool {
	v := t.ar.str(r)
	if anchorOf(v) < 0 || len(v) > 1<<16-1 {
		return false
	}
	return t.insert(v, tokEntry{v: r, id: id}, dedup)
}

func (t *tokenTable) insert(v string, e tokEntry, dedup bool) bool {
	h := hashString(v)
	if dedup {
		if ei, ok := t.entryOf(h, v); ok {
			t.entries.at(int(ei)).id = e.id
			return true
		}
	}
	ei := uint32(t.entries.add(e))
	t.vals.insert(h, ei)
	a := anchorOf(v)
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
		// earliest start first (largest anchor offset), then longest
		k := len(list)
		list = append(list, sh)
		for k > 0 && (list[k-1].a < sh.a || (list[k-1].a == sh.a && list[k-1].n < sh.n)) {
			list[k] = list[k-1]
			k--
		}
		list[k] = sh
		t.shapes[key] = list
		if len(t.shapes) > 1<<(t.fbits-4) {
			t.resize(t.fbits + 1)
		} else {
			t.filter.set(key)
		}
	}
	t.maxLen = max(t.maxLen, len(v))
	t.maxA = max(t.maxA, a)
	if t.prefixes {
		t.sorted = append(t.sorted, ei)
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
	t.filter = anchorFilter{bits: make([]uint64, 1<<(b-6)), shift: uint32(32 - b)}
	for k := range t.shapes {
		t.filter.set(k)
	}
}

// anchorFilter is a bit filter over the four bytes at a value's anchor: a
// word of text costs one multiply and one bit test. A value of it is
// meant to be copied into a scan's locals.
type anchorFilter struct {
	bits  []uint64 // a power of two of them
	shift uint32   // 32 less the log2 of the number of bits
}

func (f anchorFilter) slot(key uint32) (word uint32, bit uint64) {
	h := (key * 0x9e3779b1) >> (f.shift & 31)
	return (h >> 6) & uint32(len(f.bits)-1), 1 << (h & 63)
}

func (f anchorFilter) has(key uint32) bool {
	w, bit := f.slot(key)
	return f.bits[w]&bit != 0
}

func (f anchorFilter) set(key uint32) {
	w, bit := f.slot(key)
	f.bits[w] |= bit
}

func (t *tokenTable) len() int { return t.entries.len() }

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
	sc := tableScan{t: t, d: d, lo: lo, final: final, avoid: avoid, out: out, hold: len(d), next: lo}
	if t.entries.len() == 0 {
		return out, sc.hold
	}
	sc.run()
	return sc.finish()
}

// tableScan is one scan of a view by a token table.
type tableScan struct {
	t          *tokenTable
	d          []byte
	lo         int
	final      bool
	avoid      []Span
	ai         int
	out        []match
	hold, next int // no match may start before next
}

// run visits every word start with the filter, eight bytes at a time, and
// looks closer only where the filter lets a word through.
func (sc *tableScan) run() {
	d := sc.d
	n := len(d)
	filter := sc.t.filter
	// from a little before lo: a value may start right after an escape
	// unit or a terminal colour whose word starts before lo (\u00e9,
	// ESC [ 1;31 m)
	i := max(sc.lo-24, 0) &^ 7
	var prev, prevBS uint64 // the previous block's last byte: a word byte, a backslash or '['
	if i > 0 {
		if isWord(d[i-1]) {
			prev = 1 << 63
		}
		if d[i-1] == '\\' || d[i-1] == '[' {
			prevBS = 1 << 63
		}
	}
	// blocks whose four bytes after any word start are all in hand (x and
	// the block after it, y), 32 at a time: first the word starts the
	// filter lets through, and those right after a backslash (an escape
	// unit may open them) or a '[' (a terminal colour, ESC [ 33 m), then a
	// closer look at each, in order
	var cand [256]int32 // position<<1, | 1 for a start after a unit
	for i+16 <= min(n, sc.hold) {
		lim := min(min(n, sc.hold)-15, i+8*32)
		k := 0
		for ; i < lim; i += 8 {
			b := d[i : i+16 : i+16]
			// (the block's starts, as in the loop below: written out
			// twice because a function doing it is too big to inline)
			x := binary.LittleEndian.Uint64(b)
			m := wordBits(x)
			starts := m &^ (m<<8 | prev>>56)
			prev = m
			bs := backslashBits(x) | byteBits(x, '[')
			after := starts & (bs<<8 | prevBS>>56)
			prevBS = bs
			for starts != 0 {
				o := uint(bits.TrailingZeros64(starts)>>3) & 7
				starts &= starts - 1
				key := binary.LittleEndian.Uint32(b[o : o+4 : o+4])
				if filter.has(key) {
					cand[k&255] = int32(i+int(o)) << 1
					k++
				}
				if after != 0 && after&(0x80<<(o*8)) != 0 {
					cand[k&255] = int32(i+int(o))<<1 | 1
					k++
				}
			}
		}
		for _, c := range cand[:k] {
			p := int(c >> 1)
			if p >= sc.hold {
				return
			}
			if c&1 != 0 {
				sc.afterUnit(p)
			} else if p >= sc.next {
				sc.try(p)
			}
		}
	}
	next, hold := sc.next, sc.hold
	for ; i+8 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		m := wordBits(x)
		starts := m &^ (m<<8 | prev>>56)
		prev = m
		// words right after a backslash (an escape unit may open them) or
		// a '[' (the digits of a terminal colour, ESC [ 33 m)
		bs := backslashBits(x) | byteBits(x, '[')
		after := starts & (bs<<8 | prevBS>>56)
		prevBS = bs
		for starts != 0 {
			tz := bits.TrailingZeros64(starts)
			starts &= starts - 1
			p := i + tz>>3
			if p >= next {
				if p >= hold {
					return
				}
				if p+4 > n {
					sc.short(p)
					next, hold = sc.next, sc.hold
				} else if filter.has(binary.LittleEndian.Uint32(d[p:])) {
					sc.try(p)
					next, hold = sc.next, sc.hold
				}
			}
			if after&(1<<tz) != 0 {
				sc.afterUnit(p)
				next, hold = sc.next, sc.hold
			}
		}
	}
	// the last bytes, one at a time
	for p := i; p < n && p < sc.hold; p++ {
		if !isWord(d[p]) || (p > 0 && isWord(d[p-1])) {
			continue
		}
		if p >= sc.next {
			sc.check(p)
		}
		if p > 0 && (d[p-1] == '\\' || d[p-1] == '[') {
			sc.afterUnit(p)
		}
	}
}

// check looks for a value anchored at the word start p, if the filter
// lets the four bytes there through.
func (sc *tableScan) check(p int) {
	d, t := sc.d, sc.t
	if p+4 > len(d) {
		sc.short(p)
		return
	}
	if t.filter.has(binary.LittleEndian.Uint32(d[p:])) {
		sc.try(p)
	}
}

// afterUnit: the word at p follows a backslash or a '['; if that opens an
// escape unit of the text (\n, \u00a0) or a terminal colour (ESC [ 33 m),
// a value may start after it.
func (sc *tableScan) afterUnit(p int) {
	d := sc.d
	n := len(d)
	if d[p-1] == '[' {
		if p < 2 || d[p-2] != 0x1b {
			return
		}
		q := p
		for q < n && q-p < 16 && (isDigit(d[q]) || d[q] == ';') {
			q++
		}
		if q < n && d[q] == 'm' && q+1 < n && isWord(d[q+1]) && q+1 >= sc.next && q+1 < sc.hold {
			sc.check(q + 1)
		}
		return
	}
	if !oddBackslashes(d, p-1) {
		return
	}
	q := p + 1
	if d[p] == 'u' && p+5 <= n && isHexAny(d[p+1]) && isHexAny(d[p+2]) && isHexAny(d[p+3]) && isHexAny(d[p+4]) {
		q = p + 5
	}
	if q >= sc.next && q < sc.hold && q < n && isWord(d[q]) {
		sc.check(q)
	}
}

// short handles a word start with fewer than four bytes after it: until
// the input is final, a value may still start there.
func (sc *tableScan) short(p int) {
	if !sc.final && p-sc.t.maxA < sc.hold {
		sc.hold = max(p-sc.t.maxA, sc.next)
	}
}

// try looks for a value anchored at the word start p.
func (sc *tableScan) try(p int) {
	d, t := sc.d, sc.t
	n := len(d)
	for _, sh := range t.shapes[binary.LittleEndian.Uint32(d[p:])] {
		s, e := p-int(sh.a), p-int(sh.a)+int(sh.n)
		if s < sc.next || s < 0 {
			continue
		}
		if e > n {
			if !sc.final && s < sc.hold && t.mayExtend(d[s:]) {
				sc.hold = s
			}
			continue
		}
		if e == n && !sc.final {
			// whether a word goes on after it is not known yet
			if _, ok := t.lookup(d[s:e]); ok && s < sc.hold {
				sc.hold = s
			}
			continue
		}
		if e < n && isWord(d[e-1]) && isWord(d[e]) {
			continue
		}
		for sc.ai < len(sc.avoid) && sc.avoid[sc.ai].End <= s {
			sc.ai++
		}
		if sc.ai < len(sc.avoid) && sc.avoid[sc.ai].Start < e {
			continue
		}
		id, ok := t.lookup(d[s:e])
		if !ok {
			continue
		}
		if s >= sc.hold {
			return
		}
		sc.out = append(sc.out, match{start: s, end: e, id: id})
		sc.next = e
		return
	}
}

func (sc *tableScan) finish() ([]match, int) {
	d, t, n := sc.d, sc.t, len(sc.d)
	// a value that opens with non-word bytes may start in the text's
	// last bytes, before its anchor has arrived
	if !sc.final && t.maxA > 0 {
		r := n
		for r > sc.lo && n-r < t.maxA && !isWord(d[r-1]) {
			r--
		}
		for s := r; s < n && s < sc.hold; s++ {
			if s >= sc.next && t.mayExtend(d[s:]) {
				sc.hold = s
				break
			}
		}
	}
	// a match found before the hold point but ending after it is decided
	// again with more input
	out := sc.out
	for len(out) > 0 && out[len(out)-1].end > sc.hold {
		out = out[:len(out)-1]
	}
	return out, sc.hold
}

// mayExtend reports whether some value could start with prefix.
func (t *tokenTable) mayExtend(prefix []byte) bool {
	if !t.prefixes {
		return true
	}
	if t.dirty {
		sort.Slice(t.sorted, func(i, j int) bool { return t.value(t.sorted[i]) < t.value(t.sorted[j]) })
		t.dirty = false
	}
	lo, hi := 0, len(t.sorted)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.value(t.sorted[m]) < string(prefix) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(t.sorted) {
		return false
	}
	v := t.value(t.sorted[lo])
	return len(v) > len(prefix) && v[:len(prefix)] == string(prefix)
}

// wordBits has the high bit of each byte of x (little-endian) set where
// the byte is a word byte: [0-9A-Za-z_].
func wordBits(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	m := (y + (0x80-'0')*ones) &^ (y + (0x7f-'9')*ones)
	m |= (y + (0x80-'A')*ones) &^ (y + (0x7f-'Z')*ones)
	m |= (y + (0x80-'a')*ones) &^ (y + (0x7f-'z')*ones)
	m |= (y + (0x80-'_')*ones) &^ (y + (0x7f-'_')*ones)
	return m & highs &^ x
}

// backslashBits has the high bit of each byte of x set where the byte is a
// backslash (and maybe, after one, where it is ']': callers check).
func backslashBits(x uint64) uint64 { return byteBits(x, '\\') }

// byteBits has the high bit set where a byte of x is c; a byte c+1 right
// after one may be marked too (callers check what they find).
func byteBits(x uint64, c byte) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x ^ (uint64(c) * ones)
	return (y - ones) &^ y & highs
}
