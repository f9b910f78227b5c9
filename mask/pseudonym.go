package mask

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNoPseudonym is returned when no pseudonym of the required shape could
// be found (a user rule whose regex its own pseudonyms cannot match).
var ErrNoPseudonym = errors.New("no pseudonym fits")

// maxWalk bounds cycle-walking. Built-in families land in their allowed set
// on the first step almost always; the bound only stops pathological rules.
const maxWalk = 1000

// pseudonymizer turns originals into pseudonyms of the same shape.
type pseudonymizer struct {
	perm  *permuter
	rules *ruleSet
}

// step applies the family's permutation once to v (which has the shape of
// an original or of an earlier step). keep leading bytes stay as they are.
func (p *pseudonymizer) step(f family, keep int, v string) string {
	switch f {
	case famIPv4:
		return p.stepIPv4(v, keep)
	case famIPv6:
		return p.stepIPv6(v)
	}
	b := []byte(v)
	pos, radix, vals := positions(f, b, keep)
	p.perm.feistel(familyName[f]+"|"+v[:keep], vals, radix, false)
	writePositions(f, b, pos, vals)
	return string(b)
}

// next returns the first value after v on v's cycle that is allowed for the
// kind: the pseudonym of an original is next(original); when a store finds
// a pseudonym already taken, it asks for next(pseudonym).
func (p *pseudonymizer) next(k Kind, rule int, keep int, v string) (string, error) {
	f := k.family()
	if f == famIPv4 {
		// every step of the walk keeps the original's block; keep carries
		// the number of fixed leading bits
		keep = ipv4FixedBits(v)
	}
	cur := v
	for i := 0; i < maxWalk; i++ {
		cur = p.step(f, keep, cur)
		if p.allowed(k, rule, keep, cur) && sameIPv4Class(f, v, cur) && sameEdges(v, cur) &&
			!(f == famDigits && cur[0] == '0' && v[0] != '0') {
			return cur, nil
		}
		if cur == v {
			break
		}
	}
	return "", fmt.Errorf("%w for %s", ErrNoPseudonym, p.kindName(k, rule))
}

func (p *pseudonymizer) kindName(k Kind, rule int) string {
	if rule > 0 && p.rules != nil {
		return p.rules.ruleKind(rule)
	}
	return k.String()
}

// allowed reports whether a candidate may be issued as a pseudonym: never a
// value that is left alone, and always something the detectors find again
// in the same place, so unmask sees exactly what mask wrote.
func (p *pseudonymizer) allowed(k Kind, rule, keep int, c string) bool {
	if p.rules != nil && p.rules.allow[c] {
		return false
	}
	if rule > 0 {
		return p.rules.matchesRule(rule, c)
	}
	switch k.family() {
	case famDigits:
		return !leftAloneAccounts[c]
	case famBase32:
		return !strings.HasSuffix(c, "EXAMPLE")
	case famBase64:
		// a secret paired with its access key is found because it mixes
		// upper, lower and digits; its pseudonym must too
		return !strings.Contains(c, "EXAMPLEKEY") && (len(c)-keep < 20 || hasMixedB64([]byte(c[keep:])))
	case famIPv4:
		addr, bits, ok := parseIPv4CIDR(c)
		return ok && !ipv4LeftAlone(addr, bits)
	case famIPv6:
		a, err := netip.ParseAddr(strings.SplitN(c, "/", 2)[0])
		return err == nil && ipv6Maskable(a)
	case famPattern:
		b := []byte(c)
		if nameReadable(b) {
			return false
		}
		if p.rules != nil && p.rules.literalSet[c] {
			return false
		}
		if keep > 0 {
			return true // prefixed tokens are found by their prefix
		}
		// a name must not turn into something another detector claims
		sub := scanner{}
		spans, _ := sub.scan(b, 0, true, nil)
		return len(spans) == 0
	}
	return true
}

// sameEdges keeps a pseudonym the same kind of token as its original:
// its first word character in the same place, and a word byte at either
// end exactly where the original has one, so it is found again as a
// whole token wherever the original stood as one.
func sameEdges(v, c string) bool {
	if len(v) != len(c) || len(v) == 0 {
		return len(v) != len(c) // addresses of another length: digits at both ends
	}
	return anchorOf(v) == anchorOf(c) && isWord(v[0]) == isWord(c[0]) && isWord(v[len(v)-1]) == isWord(c[len(c)-1])
}

// sameIPv4Class keeps private addresses private and public ones public.
func sameIPv4Class(f family, a, b string) bool {
	if f != famIPv4 {
		return true
	}
	x, _, ok1 := parseIPv4CIDR(a)
	y, _, ok2 := parseIPv4CIDR(b)
	return ok1 && ok2 && classifyIPv4(x) == classifyIPv4(y)
}

// positions lists the bytes of b after keep that the permutation may change,
// with their radix and current digit value.
func positions(f family, b []byte, keep int) (pos []int, radix, vals []uint8) {
	for i := keep; i < len(b); i++ {
		c := b[i]
		var r, v uint8
		switch f {
		case famHex:
			if !isHexLo(c) {
				continue
			}
			r, v = 16, hexVal(c)
		case famDigits:
			if !isDigit(c) {
				continue
			}
			r, v = 10, c-'0'
		case famBase32:
			switch {
			case isUpper(c):
				r, v = 32, c-'A'
			case c >= '2' && c <= '7':
				r, v = 32, 26+c-'2'
			default:
				continue
			}
		case famBase64, famPattern:
			if c == '\\' {
				i += escapeLen(b, i) - 1
				continue
			}
			if c == '%' && i+2 < len(b) && isHexAny(b[i+1]) && isHexAny(b[i+2]) {
				i += 2
				continue
			}
			if f == famBase64 {
				if !isB64(c) {
					continue
				}
				r, v = 64, b64Val(c)
				break
			}
			switch {
			case isLower(c):
				r, v = 26, c-'a'
			case isUpper(c):
				r, v = 26, c-'A'
			case isDigit(c):
				r, v = 10, c-'0'
			default:
				continue
			}
		}
		pos = append(pos, i)
		radix = append(radix, r)
		vals = append(vals, v)
	}
	return pos, radix, vals
}

// escapeLen is the length of the backslash escape at b[i]; escapes stay
// as they are so a pseudonym of JSON text is still valid JSON text.
func escapeLen(b []byte, i int) int {
	if i+5 < len(b) && b[i+1] == 'u' {
		return 6
	}
	if i+1 < len(b) {
		return 2
	}
	return 1
}

func writePositions(f family, b []byte, pos []int, vals []uint8) {
	for k, i := range pos {
		v := vals[k]
		c := b[i]
		switch f {
		case famHex:
			b[i] = "0123456789abcdef"[v]
		case famDigits:
			b[i] = '0' + v
		case famBase32:
			b[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[v]
		case famBase64:
			b[i] = b64Alphabet[v]
		case famPattern:
			switch {
			case isLower(c):
				b[i] = 'a' + v
			case isUpper(c):
				b[i] = 'A' + v
			default:
				b[i] = '0' + v
			}
		}
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func b64Val(c byte) uint8 {
	switch {
	case isUpper(c):
		return c - 'A'
	case isLower(c):
		return 26 + c - 'a'
	case isDigit(c):
		return 52 + c - '0'
	case c == '+':
		return 62
	}
	return 63
}

func hexVal(c byte) uint8 {
	if isDigit(c) {
		return c - '0'
	}
	return c - 'a' + 10
}

// ---- IPv4 -------------------------------------------------------------------

func parseIPv4CIDR(s string) (a [4]byte, bits int, ok bool) {
	addr, rest, _ := strings.Cut(s, "/")
	end, a, ok, _ := parseQuad([]byte(addr), 0, '.', true)
	if !ok || end != len(addr) {
		return a, 0, false
	}
	bits = 32
	if strings.Contains(s, "/") {
		v, err := strconv.Atoi(rest)
		if err != nil || v < 0 || v > 32 {
			return a, 0, false
		}
		bits = v
	}
	return a, bits, true
}

// stepIPv4 permutes the bits of an address, or the network bits of a CIDR
// block, prefix-preserving and keeping the private block it lives in: two
// hosts in one subnet stay in one subnet and a block keeps its meaning. A
// host address written with its prefix length (10.0.1.5/24, as ip addr
// prints it) is a host: all its bits are permuted, as when written bare.
func (p *pseudonymizer) stepIPv4(v string, fixed int) string {
	a, bits, ok := parseIPv4CIDR(v)
	if !ok {
		return v
	}
	n := bits
	if !ipv4HostBitsZero(a, bits) {
		n = 32
	}
	p.perm.prefixBits("ipv4", a[:], fixed, n, false)
	out := fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3])
	if strings.Contains(v, "/") {
		out += "/" + strconv.Itoa(bits)
	}
	return out
}

// ipv4FixedBits is the length of the private block an address lives in
// (10/8, 172.16/12, 192.168/16, 100.64/10), or 0 for public addresses.
func ipv4FixedBits(v string) int {
	a, _, ok := parseIPv4CIDR(v)
	if !ok {
		return 0
	}
	if c := classifyIPv4(a); c != v4LeftAlone {
		return v4FixedBits[c]
	}
	return 0
}

func dashedToDotted(v string) string { return strings.ReplaceAll(v, "-", ".") }
func dottedToDashed(v string) string { return strings.ReplaceAll(v, ".", "-") }

// ---- IPv6 -------------------------------------------------------------------

// stepIPv6 permutes the hex digits of an IPv6 address as written, each
// digit keyed by the digits before it (prefix-preserving on the text), and
// keeps the layout: colons, "::", group lengths, letter case and the bits
// that make it global unicast (2000::/3) or unique local (fc00::/7).
func (p *pseudonymizer) stepIPv6(v string) string {
	addr, suffix, _ := strings.Cut(v, "/")
	b := []byte(addr)
	var tail []byte // an IPv4 tail (2600:1f18::10.0.1.5), done after the groups
	if strings.Contains(addr, ".") {
		k := strings.LastIndexByte(addr, ':') + 1
		b, tail = b[:k], b[k:]
	}
	upper := strings.ContainsAny(addr, "ABCDEF")
	var nibbles []byte
	first := true
	ula := false
	for i, c := range b {
		if c == ':' {
			nibbles = append(nibbles, 0xff) // layout marker
			continue
		}
		x := hexNibble(c)
		var out byte
		switch {
		case first:
			first = false
			ula = x == 0xf
			if ula {
				out = x
			} else {
				m := p.perm.mac("ipv6", 'N', 0, nil)
				out = (x & 0xe) | ((x ^ m[0]) & 1)
			}
		case ula && len(nibbles) == 1:
			m := p.perm.mac("ipv6", 'N', 1, []byte{0xf})
			out = (x & 0xe) | ((x ^ m[0]) & 1)
		default:
			m := p.perm.mac("ipv6", 'N', len(nibbles), nibbles)
			out = (x + m[0]) & 0xf
		}
		nibbles = append(nibbles, x)
		digits := "0123456789abcdef"
		if upper {
			digits = "0123456789ABCDEF"
		}
		b[i] = digits[out]
	}
	out := string(b) + string(p.ipv6Tail(tail, nibbles))
	if suffix != "" || strings.Contains(v, "/") {
		out += "/" + suffix
	}
	return out
}

// ipv6Tail permutes the dotted IPv4 tail of an IPv6 address, each octet
// keyed by everything before it and kept to its number of digits (0-9,
// 10-99, 100-255), so the address keeps its length and stays valid.
func (p *pseudonymizer) ipv6Tail(tail, nibbles []byte) []byte {
	if len(tail) == 0 {
		return nil
	}
	out := make([]byte, 0, len(tail))
	key := append([]byte(nil), nibbles...)
	for k, o := range strings.Split(string(tail), ".") {
		if k > 0 {
			out = append(out, '.')
		}
		x, err := strconv.Atoi(o)
		if err != nil || len(o) == 0 || len(o) > 3 || x > 255 {
			return tail // not an address: ipv6 validation refuses it
		}
		lo, n := [...]int{0, 0, 10, 100}[len(o)], [...]int{1, 10, 90, 156}[len(o)]
		if x < lo {
			return tail // a leading zero
		}
		m := p.perm.mac("ipv6", 'V', k, key)
		y := lo + (x-lo+int(binary.BigEndian.Uint16(m[:2])))%n
		out = strconv.AppendInt(out, int64(y), 10)
		key = append(key, byte(x))
	}
	return out
}

func hexNibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
