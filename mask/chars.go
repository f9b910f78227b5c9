package mask

// Byte classes, looked up in one table so the scanner's inner loop stays a
// load and a branch.
const (
	cWord   = 1 << iota // [A-Za-z0-9_]
	cDigit              // [0-9]
	cHexLo              // [0-9a-f]
	cLower              // [a-z]
	cUpper              // [A-Z]
	cHold               // may be part of a span, or of the way back from a trigger to a span's start
	cB64                // [A-Za-z0-9+/]
	cHexAny             // [0-9a-fA-F]
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		var f uint8
		switch {
		case c >= '0' && c <= '9':
			f = cWord | cDigit | cHexLo | cHold | cB64 | cHexAny
		case c >= 'a' && c <= 'z':
			f = cWord | cLower | cHold | cB64
			if c <= 'f' {
				f |= cHexLo | cHexAny
			}
		case c >= 'A' && c <= 'Z':
			f = cWord | cUpper | cHold | cB64
			if c <= 'F' {
				f |= cHexAny
			}
		case c == '_':
			f = cWord | cHold
		case c == '+' || c == '/':
			f = cHold | cB64
		case c == '.' || c == '-' || c == ':' || c == '=' || c == '@' || c == '%' || c == '*' || c == '$' || c == '#':
			f = cHold
		}
		class[c] = f
	}
}

func isWord(c byte) bool  { return class[c]&cWord != 0 }
func isDigit(c byte) bool { return class[c]&cDigit != 0 }
func isHexLo(c byte) bool { return class[c]&cHexLo != 0 }
func isLower(c byte) bool { return class[c]&cLower != 0 }
func isUpper(c byte) bool { return class[c]&cUpper != 0 }
func isB64(c byte) bool   { return class[c]&cB64 != 0 }
func isHexAny(c byte) bool {
	return class[c]&cHexAny != 0
}
func isAlnum(c byte) bool { return class[c]&(cDigit|cLower|cUpper) != 0 }

func toLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// escapeEndsAt reports whether s[:i] ends with an escape unit of the text
// as read — a backslash and the character after it (\n, \t, \q), or \u and
// four hex digits — whose backslash is not itself escaped. Transport
// escapes are decoded before detectors run (see view); what remains is
// text a person reads, where "a\nAKIA…" still has a token after the \n.
func escapeEndsAt(s []byte, i int) bool {
	// the common case, no backslash near, in a form the compiler inlines
	if i >= 2 && s[i-2] == '\\' || i >= 6 && s[i-6] == '\\' {
		return escapeUnitEndsAt(s, i)
	}
	return false
}

func escapeUnitEndsAt(s []byte, i int) bool {
	if i >= 2 && s[i-2] == '\\' && oddBackslashes(s, i-2) {
		// \u before four hex digits opens a longer unit: i is inside it
		return s[i-1] != 'u' || i+4 > len(s) || !(isHexAny(s[i]) && isHexAny(s[i+1]) && isHexAny(s[i+2]) && isHexAny(s[i+3]))
	}
	if i >= 6 && s[i-6] == '\\' && s[i-5] == 'u' && isHexAny(s[i-4]) && isHexAny(s[i-3]) &&
		isHexAny(s[i-2]) && isHexAny(s[i-1]) && oddBackslashes(s, i-6) {
		return true
	}
	return false
}

// oddBackslashes reports whether the run of backslashes ending at s[j]
// (inclusive) has odd length, i.e. s[j] starts an escape.
func oddBackslashes(s []byte, j int) bool {
	n := 0
	for j >= 0 && s[j] == '\\' {
		n++
		j--
	}
	return n%2 == 1
}

// wordBoundaryBefore reports whether position i starts a token: the byte
// before it is not a word byte, or it closes an escape sequence.
func wordBoundaryBefore(s []byte, i int) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	if !isWord(c) {
		return true
	}
	return escapeEndsAt(s, i) || (c == 'm' && ansiEndsAt(s, i))
}

// ansiEndsAt reports whether s[:i] ends with a terminal colour sequence
// (ESC [ 33 m): colored command output has a token right after it.
func ansiEndsAt(s []byte, i int) bool {
	if i < 3 || s[i-1] != 'm' {
		return false
	}
	j := i - 2
	for j > 0 && i-j < 16 && (isDigit(s[j]) || s[j] == ';') {
		j--
	}
	return j > 0 && s[j] == '[' && s[j-1] == 0x1b
}

func hasPrefixAt(s []byte, i int, p string) bool {
	return len(s)-i >= len(p) && string(s[i:i+len(p)]) == p
}

// prefixMayContinue reports whether s[i:] is a proper prefix of p, that is,
// more input could still complete p.
func prefixMayContinue(s []byte, i int, p string) bool {
	rest := s[i:]
	return len(rest) < len(p) && string(rest) == p[:len(rest)]
}

// normKey lowercases a key and drops '_', '-', '.' and spaces, so that
// OwnerId, owner_id, --owner-id and owner.id compare equal.
func normKey(dst []byte, key []byte) []byte {
	dst = dst[:0]
	for _, c := range key {
		switch c {
		case '_', '-', '.', ' ':
			continue
		}
		dst = append(dst, toLower(c))
	}
	return dst
}
