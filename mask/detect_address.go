package mask

import (
	"encoding/binary"
	"net/netip"
)

// Addresses: IPv4 (also dashed, as in ip-10-0-1-5) and IPv6, and which
// blocks are left alone.

// parseQuad reads a quad of octets separated by sep ('.', or '-' in
// ip-10-0-1-5) at i. It returns the end, the address, and whether more
// input is needed to decide.
func parseQuad(s []byte, i int, sep byte, final bool) (end int, a [4]byte, ok, more bool) {
	n := len(s)
	p := i
	for k := 0; k < 4; k++ {
		if k > 0 {
			if p == n {
				return 0, a, false, !final
			}
			if s[p] != sep {
				return 0, a, false, false
			}
			p++
		}
		q := p
		v := 0
		for q < n && isDigit(s[q]) && q-p < 4 {
			v = v*10 + int(s[q]-'0')
			q++
		}
		if q == n && !final {
			return 0, a, false, true
		}
		if q == p || q-p > 3 || v > 255 || (q-p > 1 && s[p] == '0') {
			return 0, a, false, false
		}
		a[k] = byte(v)
		p = q
	}
	return p, a, true, false
}

// ipv4 reads a dotted quad at i, with its prefix length if it has one.
// It returns the end and true when it decided the text is an address
// (masked, or left alone as loopback, documentation, …), false otherwise;
// when more input is needed the scan is stopped.
func (st *scanState) ipv4(i int) (int, bool) {
	end, a, ok, more := parseQuad(st.s, i, '.', st.final)
	if more {
		st.more(i)
		return 0, false
	}
	if !ok || !st.endsAddress(i, end) {
		return 0, false
	}
	bits, spanEnd, ok := st.prefixLength(i, end)
	if !ok || st.versionContext(i) {
		return 0, false
	}
	if ipv4LeftAlone(a, bits) {
		return spanEnd, true
	}
	return st.emit(Span{Start: i, End: spanEnd, Kind: KindIPv4}), true
}

// endsAddress reports whether the quad at s[i:end] stands as an address:
// a fifth component or a trailing word makes it a version or an OID, and
// 1.2.3.4-abc.example.com is a hostname label (but 10.0.0.1-10.0.0.9 is a
// range of two). When more input is needed the scan is stopped.
func (st *scanState) endsAddress(i, end int) bool {
	s, n := st.s, st.n
	if end == n {
		if !st.final {
			st.more(i)
			return false
		}
		return true
	}
	switch c := s[end]; {
	case isWord(c):
		return false
	case c == '.':
		if end+1 == n && !st.final {
			st.more(i)
			return false
		}
		return end+1 == n || !isDigit(s[end+1])
	case c == '-':
		r := end + 1
		for r < n && isAlnum(s[r]) {
			r++
		}
		if r == n && !st.final {
			st.more(i)
			return false
		}
		if r > end+1 && r < n && s[r] == '.' {
			_, _, ok, more := parseQuad(s, end+1, '.', st.final)
			if more {
				st.more(i)
				return false
			}
			return ok
		}
	}
	return true
}

// prefixLength reads a CIDR prefix length after the quad that ends at
// end: it returns the number of bits (32 without one) and where the span
// ends, or false when more input is needed (the scan is stopped).
func (st *scanState) prefixLength(i, end int) (bits, spanEnd int, ok bool) {
	s, n := st.s, st.n
	if end == n || s[end] != '/' {
		return 32, end, true
	}
	q := end + 1
	v := 0
	for q < n && isDigit(s[q]) && q-end <= 3 {
		v = v*10 + int(s[q]-'0')
		q++
	}
	if (q == n || (q+1 == n && s[q] == '.')) && !st.final {
		st.more(i)
		return 0, 0, false
	}
	// "/23.45.67.89" starts another address, not a prefix length
	nextQuad := q+1 < n && s[q] == '.' && isDigit(s[q+1])
	if q > end+1 && q-end <= 3 && v <= 32 && !(q-end > 2 && s[end+1] == '0') && (q == n || (!isWord(s[q]) && !nextQuad)) {
		return v, q, true
	}
	return 32, end, true
}

// versionContext reports whether the word right before i says the number
// that follows is a version or a section, not an address.
func (st *scanState) versionContext(i int) bool {
	w := st.wordBefore(i, true)
	if len(w) == 0 {
		return false
	}
	var buf [24]byte
	k := normKey(buf[:0], w)
	return versionWords[string(k)]
}

// dashedIPv4 handles ip-10-0-1-5 and ec2-54-1-2-3 host labels.
func (st *scanState) dashedIPv4(a, i int) (int, bool) {
	s, n := st.s, st.n
	end, q, ok, more := parseQuad(s, i, '-', st.final)
	if more {
		return st.more(a), false
	}
	if !ok {
		return 0, false
	}
	if end < n && (isWord(s[end]) || s[end] == '-') {
		return 0, false
	}
	if end == n && !st.final {
		return st.more(a), false
	}
	if !wordBoundaryBefore(s, a) {
		return 0, false
	}
	if ipv4LeftAlone(q, 32) {
		return end, true
	}
	return st.emit(Span{Start: i, End: end, Kind: KindIPv4, Dashed: true}), true
}

// ipv6 looks for a global or unique-local IPv6 address (or CIDR) around the
// colon at i.
func (st *scanState) ipv6(i int) (int, bool) {
	s, n := st.s, st.n
	a := i
	for a > st.lo && i-a < 40 && (isHexAny(s[a-1]) || s[a-1] == ':') && !escapeEndsAt(s, a) {
		a--
	}
	if !wordBoundaryBefore(s, a) || (a > 0 && s[a-1] == '.') {
		return 0, false
	}
	b := i
	colons := 0
	for b < n && b-a < 46 && (isHexAny(s[b]) || s[b] == ':' || s[b] == '.') {
		if s[b] == ':' {
			colons++
		}
		b++
	}
	if b == n && !st.final {
		st.more(a)
		return 0, false
	}
	for k := a; k < i; k++ {
		if s[k] == ':' {
			colons++
		}
	}
	if colons < 2 || (b < n && isWord(s[b])) {
		return 0, false
	}
	for b > a && s[b-1] == '.' {
		b--
	}
	text := s[a:b]
	// trailing single colon ("…:1:") is punctuation
	if len(text) > 2 && text[len(text)-1] == ':' && text[len(text)-2] != ':' {
		b--
		text = s[a:b]
	}
	if !sameCase(text) {
		return 0, false
	}
	addr, err := netip.ParseAddr(string(text))
	if err != nil || !addr.Is6() || addr.Is4In6() || !ipv6Maskable(addr) {
		return 0, false
	}
	end := b
	if b < n && s[b] == '/' {
		q := b + 1
		for q < n && isDigit(s[q]) && q-b <= 4 {
			q++
		}
		if q == n && !st.final {
			st.more(a)
			return 0, false
		}
		if v := atoiSmall(s[b+1 : q]); q > b+1 && v >= 0 && v <= 128 && (q == n || !isWord(s[q])) {
			end = q
		}
	}
	if a < st.lo {
		return 0, false
	}
	return st.emit(Span{Start: a, End: end, Kind: KindIPv6}), true
}

// ipv4Class says which block an address belongs to; it decides how many
// leading bits a pseudonym keeps.
type ipv4Class uint8

const (
	v4LeftAlone ipv4Class = iota
	v4Private10
	v4Private172
	v4Private192
	v4Shared // 100.64.0.0/10 carrier-grade NAT
	v4Public
)

func classifyIPv4(a [4]byte) ipv4Class {
	switch {
	case a[0] == 0, a[0] == 127, a[0] >= 224,
		a[0] == 169 && a[1] == 254,
		a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2),
		a[0] == 198 && a[1] == 51 && a[2] == 100,
		a[0] == 203 && a[1] == 0 && a[2] == 113,
		a[0] == 198 && (a[1] == 18 || a[1] == 19):
		return v4LeftAlone
	case a[0] == 10:
		return v4Private10
	case a[0] == 172 && a[1]&0xf0 == 16:
		return v4Private172
	case a[0] == 192 && a[1] == 168:
		return v4Private192
	case a[0] == 100 && a[1]&0xc0 == 64:
		return v4Shared
	}
	return v4Public
}

var v4FixedBits = [...]int{v4Private10: 8, v4Private172: 12, v4Private192: 16, v4Shared: 10, v4Public: 0}

// ipv4LeftAlone: loopback, link-local, multicast, documentation and the
// like; also a CIDR block no narrower than its private block (10.0.0.0/8).
// A host address written with a prefix length (10.0.1.5/8) is a host.
func ipv4LeftAlone(a [4]byte, bits int) bool {
	c := classifyIPv4(a)
	if c == v4LeftAlone {
		return true
	}
	if !ipv4HostBitsZero(a, bits) {
		return false
	}
	return bits == 0 || (bits < 32 && bits <= v4FixedBits[c])
}

// ipv4HostBitsZero reports whether a, read as a block of prefix length
// bits, has no host bits set (10.0.1.0/24 does; 10.0.1.5/24 does not).
func ipv4HostBitsZero(a [4]byte, bits int) bool {
	return bits >= 32 || uint64(binary.BigEndian.Uint32(a[:]))<<bits&0xffffffff == 0
}

var ipv6Doc = netip.MustParsePrefix("2001:db8::/32")

func ipv6Maskable(a netip.Addr) bool {
	b := a.As16()
	global := b[0]&0xe0 == 0x20
	ula := b[0]&0xfe == 0xfc
	return (global || ula) && !ipv6Doc.Contains(a)
}
