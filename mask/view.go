package mask

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// A view is text as a person reads it. Wherever the raw text holds a
// double-quoted string literal (a JSON document, a tool input, a JSON file
// written into one, a string in code), the literal's escapes are decoded,
// and the decoded content is read the same way again, so a JSON file inside
// a JSON string inside a request body reads as the file itself. Detectors
// and the known-value matcher look only at the view; no detector reasons
// about transport escapes.
//
// The rules, at every nesting level:
//   - A '"' that is not escaped opens a literal; the next unescaped '"'
//     closes it, and so does a newline (a string literal never spans lines).
//   - Inside a literal, valid JSON escapes (\n, \", \\, \/, \u00e9, surrogate
//     pairs) are decoded; an invalid one (\q) is kept as its two characters.
//   - Outside literals nothing is decoded: a backslash is a character, and a
//     backslash with the character after it reads as one separator.
//
// The view keeps, for every decoded escape, which raw bytes it came from
// (a unit); everything else maps one to one. Rewriting goes back through
// the map: a replacement changes only letters and digits (and the digits
// and dots of an address), which need no escaping at any level, and every
// character it keeps is copied in its raw form, so the result reads the
// same way as the input.
type view struct {
	d     []byte // decoded text; d[:ctx] is context from before raw[0]
	ctx   int
	raw   []byte // the raw text decoded into d[ctx:] (not owned)
	used  int    // raw[:used] is in d; the rest waits for more input
	units []unit // decoded escapes, in order
	// marks records every change of the reading state, by d position,
	// so a stream can restart anywhere in d
	marks []stateMark
	start viewState

	// kept holds the raw offset of every character that follows the
	// backslash of an invalid escape inside a literal (\q, \u00zz):
	// changing it could make the escape valid, so replacements must not
	kept []int32
	// keptSorted: kept is in increasing order (it is unless literals
	// nest; kept1 sorts it then)
	keptSorted bool

	st  viewState
	lvl [maxLiteralDepth + 1]decoder
}

// maxLiteralDepth bounds how deeply literals are decoded.
const maxLiteralDepth = 8

// viewState is where the reader stands between two characters: how many
// literals are open, and whether the text so far at the innermost level
// ends in an odd run of backslashes (so a quote there is escaped).
type viewState struct {
	lits uint8
	odd  bool
}

type stateMark struct {
	d int32
	s viewState
}

// unit is a decoded escape: d[d:d+n] came from raw[raw:raw+m].
type unit struct {
	d, n, raw, m int32
}

// tchar is one character at some level of decoding and the raw bytes it
// came from.
type tchar struct {
	c      byte
	rs, re int32
}

// decoder decodes the escapes of an open literal; pend holds an escape
// that is not complete yet.
type decoder struct {
	pend [12]tchar
	n    int
}

// build decodes raw (starting in state st, after ctx bytes of decoded
// context already in v.d) into the view. Unless final, an escape cut short
// at the end of raw is left undecoded (v.used tells where it starts).
func (v *view) build(raw []byte, st viewState, final bool) {
	v.raw = raw
	v.ctx = len(v.d)
	v.units = v.units[:0]
	v.marks = v.marks[:0]
	v.kept = v.kept[:0]
	v.keptSorted = true
	v.start = st
	v.st = st
	for k := range v.lvl {
		v.lvl[k].n = 0
	}
	n := len(raw)
	i := 0
	for i < n {
		// runs of ordinary bytes map one to one, whatever the level,
		// as long as no escape is pending
		if !v.st.odd && v.idle() {
			j := i + nextSpecial(raw[i:], v.st.lits > 0)
			if j > i {
				v.d = append(v.d, raw[i:j]...)
				i = j
				if i >= n {
					break
				}
			}
			// the commonest escape, \n or \t in one literal, without the
			// decoders' round trip
			if v.st.lits == 1 && raw[i] == '\\' && i+1 < n {
				if c := raw[i+1]; c != '"' && c != '\\' && c != 'u' && simpleEscape[c] != 0 {
					v.units = append(v.units, unit{d: int32(len(v.d)), n: 1, raw: int32(i), m: 2})
					v.d = append(v.d, simpleEscape[c])
					i += 2
					continue
				}
			}
		}
		v.put(0, tchar{raw[i], int32(i), int32(i + 1)})
		i++
	}
	v.used = n
	if final {
		for k := 1; k <= maxLiteralDepth; k++ {
			v.flushPending(k)
		}
		return
	}
	for k := 1; k <= maxLiteralDepth; k++ {
		if v.lvl[k].n > 0 && int(v.lvl[k].pend[0].rs) < v.used {
			v.used = int(v.lvl[k].pend[0].rs)
		}
	}
}

func (v *view) idle() bool {
	if v.st.lits == 0 {
		return true
	}
	for k := 1; k <= int(v.st.lits); k++ {
		if v.lvl[k].n > 0 {
			return false
		}
	}
	return true
}

// nextSpecial returns the index of the first byte of b that changes the
// reading state: a quote or a backslash, and inside a literal a newline.
func nextSpecial(b []byte, inLit bool) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (0x22 * ones)
		s := x ^ (0x5c * ones)
		m := (q - ones) &^ q & highs
		m |= (s - ones) &^ s & highs
		if inLit {
			l := x ^ (0x0a * ones)
			m |= (l - ones) &^ l & highs
		}
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || (inLit && c == '\n') {
			return i
		}
	}
	return i
}

// put delivers a character of the text at level k: to the output when k
// is the innermost level, else to the decoder of the literal open in it.
func (v *view) put(k int, ch tchar) {
	if k == int(v.st.lits) {
		v.out(k, ch)
		return
	}
	v.decode(k+1, ch)
}

// out appends a character of the innermost level to the view.
func (v *view) out(k int, ch tchar) {
	v.emit(ch)
	prev := v.st
	switch {
	case ch.c == '\\':
		v.st.odd = !v.st.odd
	case ch.c == '"' && !v.st.odd && k < maxLiteralDepth:
		v.st.lits = uint8(k + 1)
	default:
		v.st.odd = false
	}
	if v.st != prev {
		v.mark()
	}
}

func (v *view) mark() {
	v.marks = append(v.marks, stateMark{d: int32(len(v.d)), s: v.st})
}

// emit appends one byte of decoded text and records where it came from.
func (v *view) emit(ch tchar) {
	d := int32(len(v.d))
	v.d = append(v.d, ch.c)
	if ch.re-ch.rs == 1 && int(ch.rs) < len(v.raw) && v.raw[ch.rs] == ch.c {
		return // maps one to one
	}
	if k := len(v.units); k > 0 {
		u := &v.units[k-1]
		if u.raw == ch.rs && u.m == ch.re-ch.rs && u.d+u.n == d {
			u.n++ // the next byte of one decoded character
			return
		}
	}
	v.units = append(v.units, unit{d: d, n: 1, raw: ch.rs, m: ch.re - ch.rs})
}

// decode feeds a character of level k-1 to the decoder of the literal at
// level k.
func (v *view) decode(k int, ch tchar) {
	dc := &v.lvl[k]
	if dc.n == 0 {
		switch ch.c {
		case '\\':
			dc.pend[0] = ch
			dc.n = 1
		case '"':
			// the closing quote belongs to the enclosing level; the state
			// changes after it, so reading from it again closes again
			v.flushInner(k)
			v.emit(ch)
			v.close(k)
		case '\n':
			v.flushInner(k)
			v.close(k)
			v.put(k-1, ch)
		default:
			v.put(k, ch)
		}
		return
	}
	dc.pend[dc.n] = ch
	dc.n++
	v.complete(k)
}

// flushInner releases the escapes pending inside the literal at level k,
// which is about to close, as the characters they are.
func (v *view) flushInner(k int) {
	for j := k + 1; j <= int(v.st.lits); j++ {
		v.flushPending(j)
	}
}

// close ends the literal at level k and every one inside it.
func (v *view) close(k int) {
	for j := k; j <= maxLiteralDepth; j++ {
		v.lvl[j].n = 0
	}
	v.st = viewState{lits: uint8(k - 1)}
	v.mark()
}

// complete decodes the pending escape of level k once it is whole.
func (v *view) complete(k int) {
	dc := &v.lvl[k]
	p := dc.pend[:dc.n]
	switch p[1].c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		dc.n = 0
		v.putDecoded(k, rune(simpleEscape[p[1].c]), p[0].rs, p[1].re)
		return
	case 'u':
	default:
		v.invalid(k, 1)
		return
	}
	// \uXXXX, possibly a surrogate pair \uD83D\uDE00
	for i := 2; i < len(p); i++ {
		if i == 6 || i == 7 {
			continue
		}
		if !isHexAny(p[i].c) {
			if i < 6 {
				v.invalid(k, i)
				return
			}
			// a high surrogate not followed by a low one
			v.loneSurrogate(k)
			return
		}
	}
	switch {
	case len(p) < 6:
		return
	case len(p) == 6:
		r := hex4(p[2:6])
		if r >= 0xd800 && r < 0xdc00 {
			return // wait for the low surrogate
		}
		dc.n = 0
		if r >= 0xdc00 && r < 0xe000 {
			r = utf8.RuneError
		}
		v.putDecoded(k, r, p[0].rs, p[5].re)
	case len(p) == 7:
		if p[6].c != '\\' {
			v.loneSurrogate(k)
		}
	case len(p) == 8:
		if p[7].c != 'u' {
			v.loneSurrogate(k)
		}
	case len(p) == 12:
		hi, lo := hex4(p[2:6]), hex4(p[8:12])
		if lo < 0xdc00 || lo >= 0xe000 {
			v.loneSurrogate(k)
			return
		}
		dc.n = 0
		v.putDecoded(k, 0x10000+(hi-0xd800)<<10+(lo-0xdc00), p[0].rs, p[11].re)
	}
}

var simpleEscape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func hex4(p []tchar) rune {
	var r rune
	for _, c := range p {
		r = r<<4 | rune(hexNibble(c.c))
	}
	return r
}

// invalid handles a pending escape that cannot be valid: its first ok
// characters are plain text of the literal, the rest is read again.
func (v *view) invalid(k, ok int) {
	dc := &v.lvl[k]
	var rest [12]tchar
	n := copy(rest[:], dc.pend[ok:dc.n])
	head := dc.pend
	for i := 1; i < min(dc.n, 6); i++ {
		if n := len(v.kept); n > 0 && v.kept[n-1] >= head[i].rs {
			v.keptSorted = false
		}
		v.kept = append(v.kept, head[i].rs)
	}
	dc.n = 0
	for _, ch := range head[:ok] {
		v.put(k, ch)
	}
	for _, ch := range rest[:n] {
		if int(v.st.lits) < k {
			v.put(k-1, ch) // the literal was closed meanwhile
			continue
		}
		v.decode(k, ch)
	}
}

// loneSurrogate decodes a high surrogate with no low one after it as
// U+FFFD and reads what followed it again.
func (v *view) loneSurrogate(k int) {
	dc := &v.lvl[k]
	var rest [12]tchar
	n := copy(rest[:], dc.pend[6:dc.n])
	first, last := dc.pend[0].rs, dc.pend[5].re
	dc.n = 0
	v.putDecoded(k, utf8.RuneError, first, last)
	for _, ch := range rest[:n] {
		if int(v.st.lits) < k {
			v.put(k-1, ch)
			continue
		}
		v.decode(k, ch)
	}
}

// putDecoded delivers a decoded character to level k as its UTF-8 bytes,
// each carrying the raw range of the whole escape.
func (v *view) putDecoded(k int, r rune, rs, re int32) {
	var b [4]byte
	n := utf8.EncodeRune(b[:], r)
	for _, c := range b[:n] {
		v.put(k, tchar{c, rs, re})
	}
}

// flushPending releases an escape cut short by the end of the input as
// the plain characters it consists of.
func (v *view) flushPending(k int) {
	dc := &v.lvl[k]
	for dc.n > 0 && int(v.st.lits) >= k {
		if dc.n >= 6 && dc.pend[1].c == 'u' {
			v.loneSurrogate(k) // a high surrogate and nothing after it
			continue
		}
		v.invalid(k, dc.n)
	}
	dc.n = 0
}

// stateAt returns the reading state right before d[p] (p >= ctx).
func (v *view) stateAt(p int) viewState {
	s := v.start
	for _, m := range v.marks {
		if int(m.d) > p {
			break
		}
		s = m.s
	}
	return s
}

// rawStart returns the raw offset where d[p]'s raw form begins (p >= ctx;
// p == len(d) gives v.used).
func (v *view) rawStart(p int) int {
	r, _ := v.rawRange(p)
	return r
}

// rawRange returns where d[p]'s raw form begins, and where the raw form of
// d[:p] ends (they differ when p falls inside a decoded character).
func (v *view) rawRange(p int) (start, end int) {
	if p >= len(v.d) {
		return v.used, v.used
	}
	// the last unit starting at or before p
	lo, hi := 0, len(v.units)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(v.units[m].d) <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		r := p - v.ctx
		return r, r
	}
	u := v.units[lo-1]
	if p < int(u.d+u.n) {
		if p == int(u.d) {
			return int(u.raw), int(u.raw)
		}
		return int(u.raw), int(u.raw + u.m)
	}
	r := int(u.raw+u.m) + p - int(u.d+u.n)
	return r, r
}

// errUnsafeReplacement is returned when a replacement would change a
// character that needs escaping in its raw form; the detectors never
// produce one.
var errUnsafeReplacement = errors.New("a replacement would change an escaped character")

// rewrite appends to dst the raw form of d[from:to] with each span's text
// replaced by repl[i] ("" leaves a span as it is). Spans are in order and
// lie within [from, to).
func (v *view) rewrite(dst []byte, from, to int, spans []Span, repl []string) ([]byte, error) {
	ui := v.unitAt(from)
	_, p := v.rawRange(from)
	for i, sp := range spans {
		if sp.End > to {
			break
		}
		r := repl[i]
		if r == "" {
			continue
		}
		a, _ := v.rawRange(sp.Start)
		_, b := v.rawRange(sp.End)
		if a < p {
			return nil, errUnsafeReplacement // two spans share one decoded character
		}
		dst = append(dst, v.raw[p:a]...)
		if sp.quote > 0 {
			dst = appendQuote(dst, int(sp.quote)-1)
		}
		var err error
		if dst, ui, err = v.replace(dst, sp.Start, sp.End, r, ui); err != nil {
			return nil, err
		}
		if sp.quote > 0 {
			dst = appendQuote(dst, int(sp.quote)-1)
		}
		p = b
	}
	end, _ := v.rawRange(to)
	return append(dst, v.raw[p:end]...), nil
}

// appendQuote appends a quote as it is written inside level literals:
// ", \", \\\", …
func appendQuote(dst []byte, level int) []byte {
	for range 1<<level - 1 {
		dst = append(dst, '\\')
	}
	return append(dst, '"')
}

// unitAt returns the index of the first unit that ends after p.
func (v *view) unitAt(p int) int {
	lo, hi := 0, len(v.units)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(v.units[m].d+v.units[m].n) <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// replace appends the raw form of d[a:b] with its text replaced by r.
// Characters r keeps are copied in their raw form; characters it changes
// are written as they are, which is safe because replacements only change
// letters, digits and the punctuation replaceable allows.
func (v *view) replace(dst []byte, a, b int, r string, ui int) ([]byte, int, error) {
	for ui < len(v.units) && int(v.units[ui].d+v.units[ui].n) <= a {
		ui++
	}
	if len(r) != b-a {
		// an address of another length: digits, dots, dashes, a slash
		for i := 0; i < len(r); i++ {
			if !replaceable(r[i]) {
				return nil, ui, errUnsafeReplacement
			}
		}
		for q := a; q < b; q++ {
			if !replaceable(v.d[q]) || v.kept1(v.rawStart(q)) {
				return nil, ui, errUnsafeReplacement
			}
		}
		for ui < len(v.units) && int(v.units[ui].d) < b {
			ui++
		}
		return append(dst, r...), ui, nil
	}
	for q := a; q < b; {
		if ui < len(v.units) && int(v.units[ui].d) <= q {
			u := v.units[ui]
			lo, hi := max(int(u.d), a), min(int(u.d+u.n), b)
			if string(v.d[lo:hi]) == r[lo-a:hi-a] {
				dst = append(dst, v.raw[u.raw:u.raw+u.m]...)
			} else {
				c := r[lo-a]
				if u.n != 1 || !replaceable(c) || v.kept1(int(u.raw)) {
					return nil, ui, errUnsafeReplacement
				}
				dst = append(dst, c)
			}
			q = int(u.d + u.n)
			ui++
			continue
		}
		next := b
		if ui < len(v.units) && int(v.units[ui].d) < b {
			next = int(v.units[ui].d)
		}
		r0 := v.rawStart(q)
		for i := q; i < next; i++ {
			if c := r[i-a]; c != v.d[i] && (!replaceable(c) || v.kept1(r0+i-q)) {
				return nil, ui, errUnsafeReplacement
			}
		}
		dst = append(dst, r[q-a:next-a]...)
		q = next
	}
	return dst, ui, nil
}

// kept1 reports whether the character at raw offset r follows the
// backslash of an invalid escape inside a literal.
func (v *view) kept1(r int) bool {
	if len(v.kept) == 0 {
		return false
	}
	if !v.keptSorted {
		slices.Sort(v.kept)
		v.keptSorted = true
	}
	_, found := slices.BinarySearch(v.kept, int32(r))
	return found
}

// replaceable reports whether c may be written in place of another
// character without escaping, at any level of nesting.
func replaceable(c byte) bool {
	return isAlnum(c) || c == '+' || c == '/' || c == '.' || c == '-'
}
