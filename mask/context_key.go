package mask

import "bytes"

// Reading context: the key, flag or word before a value, and the
// structures around it (tags maps, declarations, the Read tool's line
// numbers). Which keys count is data in context.go.

func (st *scanState) atColon(i int) int {
	s, n := st.s, st.n
	if i >= 3 && string(s[i-3:i]) == "arn" && (i == 3 || wordBoundaryBefore(s, i-3)) && i-3 >= st.lo {
		return st.arn(i - 3)
	}
	if i+2 < n && s[i+1] == '/' && s[i+2] == '/' {
		return st.url(i)
	}
	if i+2 >= n && !st.final && (i+1 == n || s[i+1] == '/') {
		return st.more(st.wordStart(i))
	}
	if i > 0 && isHexAny(s[i-1]) || (i+1 < n && s[i+1] == ':') {
		if end, ok := st.ipv6(i); ok || st.stopped {
			return end
		}
	}
	if k, ok := st.keyBefore(i); ok {
		return st.contextValue(i, i+1, k)
	}
	return i + 1
}

func (st *scanState) atEquals(i int) int {
	if k, ok := st.keyBefore(i); ok {
		return st.contextValue(i, i+1, k)
	}
	return i + 1
}

// flag handles --flag value and --flag=value.
func (st *scanState) flag(i int) int {
	s, n := st.s, st.n
	j := i + 2
	for j < n && (isLower(s[j]) || isDigit(s[j]) || s[j] == '-') && j-i < 48 {
		j++
	}
	if j == n && !st.final {
		return st.more(i)
	}
	if j == i+2 {
		return j
	}
	var buf [48]byte
	k, ok := flagKinds[string(normKey(buf[:0], s[i+2:j]))]
	if !ok {
		return j
	}
	if j == n || (s[j] != ' ' && s[j] != '=') {
		return j
	}
	st.keyText, st.suffixKey, st.declared, st.shaped = nil, false, false, false
	return st.contextValue(i, j+1, k)
}

// keyBefore reads the key that ends before the separator at i.
func (st *scanState) keyBefore(i int) (Kind, bool) {
	s := st.s
	p := i
	lim := max(i-64, st.spanEnd)
	for p > lim && (s[p-1] == ' ' || s[p-1] == '\t') {
		p--
	}
	quoted := false
	var qc byte
	if p > lim && (s[p-1] == '"' || s[p-1] == '\'') {
		quoted, qc = true, s[p-1]
		p--
	}
	if p == lim || !keyLastByte[toLower(s[p-1])] {
		return 0, false // most keys fail here, before they are read
	}
	e := p
	for p > lim && (isWord(s[p-1]) || s[p-1] == '-' || s[p-1] == '.') {
		p--
	}
	if p < e && bytes.IndexByte(s[max(p-6, 0):e], '\\') >= 0 {
		// an escape may end inside the key (\nName): it starts after it
		for p = e; p > lim && (isWord(s[p-1]) || s[p-1] == '-' || s[p-1] == '.') && !escapeEndsAt(s, p); p-- {
		}
	}
	if p == e || (p == lim && lim == st.spanEnd && lim > 0) || !keyLastByte[toLower(s[e-1])] {
		return 0, false
	}
	// a quoted key opens with the same quote; a bare one starts a token
	if p > 0 {
		switch c := s[p-1]; {
		case quoted:
			if c != qc {
				return 0, false
			}
		case c == '/' || c == '\\' || c == '@' || c == '%':
			return 0, false
		}
	}
	if st.inSpan(p, e) {
		return 0, false
	}
	key := s[p:e]
	st.key = normKey(st.key[:0], key)
	if k, ok := keyKind(st.key, key, quoted); ok {
		st.suffixKey = k&suffixMatch != 0
		k &^= suffixMatch
		st.keyText = key
		if hclOnlyKeys[string(st.key)] && (s[i] != '=' || quoted) {
			return 0, false
		}
		st.shaped = shapedKeys[string(st.key)]
		if k == KindTagName && !st.inTagsBlock(p) {
			// Name is a field everywhere; it is a tag inside a tags map:
			// "tags": {"Name": "x"}, tags = { Name = "x" }
			return 0, false
		}
		if quotedOnlyKeys[string(st.key)] && !quoted {
			return 0, false
		}
		st.declared = st.inDeclaration(p)
		return k, true
	}
	if string(st.key) == "value" && (st.tagNameBefore(p) || st.tagKeyInObject(p)) {
		st.declared, st.shaped = false, false
		return KindTagName, true
	}
	return 0, false
}

// keyKind looks up a normalized key (raw is the key as written, for the
// case-sensitive ones): exact names first, then suffixes.
func keyKind(norm, raw []byte, quoted bool) (Kind, bool) {
	if raw != nil && caseSensitiveLast[raw[len(raw)-1]] {
		if k, ok := caseSensitiveKeys[string(raw)]; ok {
			return k, true
		}
	}
	if len(norm) == 0 || !keyLastByte[norm[len(norm)-1]] {
		return 0, false
	}
	if keyMayBe(norm) {
		if k, ok := keyKinds[string(norm)]; ok {
			return k, true
		}
	}
	// suffixes only for quoted keys ("groupOwnerId") and snake, kebab or
	// dotted ones (EXPORT_BUCKET), not for identifiers in code
	// (encodeUserPassword)
	if raw == nil || (!quoted && !hasSeparator(raw)) {
		return 0, false
	}
	for _, sfx := range keySuffixes {
		if len(norm) > len(sfx.suffix) && norm[len(norm)-1] == sfx.suffix[len(sfx.suffix)-1] &&
			string(norm[len(norm)-len(sfx.suffix):]) == sfx.suffix {
			return sfx.kind | suffixMatch, true
		}
	}
	return 0, false
}

// keyFilter has, for each length and first byte of a normalized key in
// keyKinds, a bit for its last byte: most keys of code and JSON are
// turned away here, before the map lookup.
var keyFilter [48][26]uint32

// caseSensitiveLast holds the last bytes of the case-sensitive keys.
var caseSensitiveLast [256]bool

func init() {
	for k := range keyKinds {
		if len(k) < 48 && isLower(k[0]) && isLower(k[len(k)-1]) {
			keyFilter[len(k)][k[0]-'a'] |= 1 << (k[len(k)-1] - 'a')
		}
	}
	for k := range caseSensitiveKeys {
		caseSensitiveLast[k[len(k)-1]] = true
	}
}

// keyMayBe reports whether keyKinds may hold the normalized key k.
func keyMayBe(k []byte) bool {
	if len(k) >= 48 || !isLower(k[0]) || !isLower(k[len(k)-1]) {
		return true // the filter does not cover it: ask the map
	}
	return keyFilter[len(k)][k[0]-'a']&(1<<(k[len(k)-1]-'a')) != 0
}

func hasSeparator(b []byte) bool {
	for _, c := range b {
		if c == '_' || c == '-' || c == '.' {
			return true
		}
	}
	return false
}

// suffixMatch marks a kind found through a key suffix; values then need
// a stronger shape (a bucket name with a dash, for instance).
const suffixMatch Kind = 0x80

// keyLastByte holds the last bytes of every context key, a cheap first
// test before the map lookup.
var keyLastByte [256]bool

func init() {
	for k := range keyKinds {
		keyLastByte[k[len(k)-1]] = true
	}
	for _, sfx := range keySuffixes {
		keyLastByte[sfx.suffix[len(sfx.suffix)-1]] = true
	}
}

// inTagsBlock reports whether the key at p sits directly in a map that a
// tags key opens ("tags": {, Tags = {, tags_all: {).
func (st *scanState) inTagsBlock(p int) bool {
	s := st.s
	lim := max(p-512, 0)
	depth := 0
	q := p
	for q > lim {
		q--
		switch s[q] {
		case '}':
			depth++
		case '{':
			if depth > 0 {
				depth--
				continue
			}
			r := q
			for r > lim && (s[r-1] == ' ' || s[r-1] == '=' || s[r-1] == ':' || s[r-1] == '"' || s[r-1] == '\t') {
				r--
			}
			e := r
			for r > lim && (isWord(s[r-1]) || s[r-1] == '-') {
				r--
			}
			if st.inSpan(r, e) {
				return false
			}
			var buf [16]byte
			switch string(normKey(buf[:0], s[r:e])) {
			case "tags", "tagsall", "tagset", "defaulttags":
				return true
			}
			return false
		}
	}
	return false
}

// inDeclaration reports whether the key at p is a variable being declared
// in code (const password = …, var bucket = …), not a setting.
func (st *scanState) inDeclaration(p int) bool {
	s := st.s
	q := p
	for q > 0 && p-q < 16 && (s[q-1] == ' ' || s[q-1] == '\t') {
		q--
	}
	for _, kw := range []string{"const", "var", "let", "final", "val", "def", "local"} {
		if q >= len(kw) && string(s[q-len(kw):q]) == kw && q < p && (q == len(kw) || !isWord(s[q-len(kw)-1])) {
			return true
		}
	}
	return false
}

// tagNameBefore looks for "Key": "Name", or Key=Name, right before a Value
// key starting at p.
func (st *scanState) tagNameBefore(p int) bool {
	s := st.s
	lim := max(p-64, st.spanEnd)
	q := p
	skip := func() {
		for q > lim {
			switch c := s[q-1]; {
			case c == ' ' || c == ',' || c == '"' || c == '\n' || c == '\t' || c == '\r' || c == '-':
				q--
			default:
				if l := lineNumberStart(s, q, lim); l >= 0 {
					q = l // a line number the Read tool put there
					continue
				}
				return
			}
		}
	}
	skip()
	if q-lim < 4 || string(s[q-4:q]) != "Name" || st.inSpan(q-4, q) {
		return false
	}
	q -= 4
	skip()
	for q > lim && (s[q-1] == ':' || s[q-1] == '=' || s[q-1] == ' ') {
		q--
	}
	skip()
	return q-lim >= 3 && (string(s[q-3:q]) == "Key" || string(s[q-3:q]) == "key") && !st.inSpan(q-3, q)
}

// tagKeyInObject looks for "Key": "Name" among the members before a Value
// key starting at p, in the same object: describe-tags puts ResourceId
// and ResourceType between them.
func (st *scanState) tagKeyInObject(p int) bool {
	s := st.s
	lim := max(p-300, 0) // within the context a stream keeps (maxContextBack)
	depth := 0
	b := p
	for b > lim {
		b--
		switch s[b] {
		case '}', ']':
			depth++
		case '[':
			if depth == 0 {
				return false
			}
			depth--
		case '{':
			if depth > 0 {
				depth--
				continue
			}
			return tagKeyIn(s[b:p])
		}
	}
	return false
}

// tagKeyIn reports whether obj holds a member Key whose value is Name.
func tagKeyIn(obj []byte) bool {
	for i := 0; ; {
		k := bytes.Index(obj[i:], []byte("Key"))
		if k < 0 {
			return false
		}
		i += k
		q := i + 3
		if i > 0 && isWord(obj[i-1]) || q < len(obj) && isWord(obj[q]) {
			i = q
			continue
		}
		for q < len(obj) && (obj[q] == '"' || obj[q] == ' ' || obj[q] == ':' || obj[q] == '=' || obj[q] == '\t') {
			q++
		}
		if hasPrefixAt(obj, q, "Name") && (q+4 == len(obj) || !isWord(obj[q+4])) {
			return true
		}
		i = q
	}
}

// lineNumberStart returns where a line-number prefix that ends at q
// starts (right after its newline): the Read tool writes "  12\t" or
// "  12→" before each line of a file. -1 if s[:q] does not end with one.
func lineNumberStart(s []byte, q, lim int) int {
	switch {
	case q > lim && s[q-1] == '\t':
		q--
	case q-3 >= lim && s[q-3] == 0xe2 && s[q-2] == 0x86 && s[q-1] == 0x92: // →
		q -= 3
	default:
		return -1
	}
	d := q
	for q > lim && isDigit(s[q-1]) && d-q < 7 {
		q--
	}
	if q == d {
		return -1
	}
	for q > lim && s[q-1] == ' ' {
		q--
	}
	if q == 0 || s[q-1] == '\n' {
		return q
	}
	return -1
}

// wordBefore returns the word ending before i, skipping spaces (and, when
// skipSpace is false, nothing). A 'v' glued to the number counts as a word.
func (st *scanState) wordBefore(i int, skipSpace bool) []byte {
	s := st.s
	lim := max(i-40, st.spanEnd)
	j := i
	if j > lim && (s[j-1] == 'v' || s[j-1] == 'V') {
		return s[j-1 : j]
	}
	for skipSpace && j > lim && (s[j-1] == ' ' || s[j-1] == '\t' || s[j-1] == '#' || s[j-1] == '\u00a0') {
		j--
	}
	e := j
	for j > lim && (isAlnum(s[j-1]) || s[j-1] == '_') {
		j--
	}
	if st.inSpan(j, e) {
		return nil
	}
	return s[j:e]
}
