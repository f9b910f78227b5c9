package mask

import (
	"bytes"
	"net/netip"
)

// Span is one identifier found in a piece of text.
type Span struct {
	Start, End int
	Kind       Kind
	// Keep is the number of leading bytes of the span that stay as they are
	// in the pseudonym ("AKIA", "i-", "sk-ant-api03-").
	Keep int
	// Dashed marks an IPv4 address written with dashes (ip-10-0-1-5).
	Dashed bool
	// Rule is the 1-based user rule that found the span, or 0.
	Rule int

	origin int // where the detector that found it started looking
	// quote, when not 0, wraps the replacement in quotes written for
	// literal level quote-1: a restored number that is no longer one
	quote uint8
}

const (
	// maxTokenLen bounds every span that consists of hold bytes only, so a
	// stream never holds back more than this much of an unbroken token.
	maxTokenLen = 4096
	// maxContextBack bounds how far a detector looks back for context; a
	// streaming caller keeps at least this much already-emitted text.
	maxContextBack = 320
	// maxQuotedName bounds a quoted name value (which may contain spaces).
	maxQuotedName = 256
	// maxPEM bounds a private key block.
	maxPEM = 64 << 10
	// maxSecretLen bounds a session token or secret read by its key or
	// prefix: STS documents no maximum, and one cut short would be sent
	maxSecretLen = 32 << 10
)

// secretKind says whether values of kind k are read up to maxSecretLen.
func secretKind(k Kind) bool {
	return k == KindSessionToken || k == KindSecretAccessKey || k == KindBedrockKey
}

// trigger marks the bytes at which some detector may start looking.
var trigger [256]bool

func init() {
	for _, c := range []byte("0123456789-:=._AIF/") {
		trigger[c] = true
	}
}

// scanner finds identifiers. It is safe for concurrent use.
type scanner struct {
	rules *ruleSet
}

type scanState struct {
	sc    *scanner
	s     []byte
	n     int
	final bool
	lo    int // no span may start before lo
	// [spanStart, spanEnd) is the last span (also from earlier chunks of a
	// stream): its text differs between the original and the masked text,
	// so no detector takes context from it.
	spanStart, spanEnd int
	hold               int
	stopped            bool
	spans              []Span
	key                []byte // scratch for normKey
	trig               int    // the trigger being handled
	// set by keyBefore: the key as written, and whether only its suffix matched
	keyText   []byte
	suffixKey bool
	// declared: the key is a variable declared in code (const bucket =
	// "…"), whose value counts only as a string literal; shaped: the
	// key holds a name only if it does not read as a word or number
	declared, shaped bool
}

// scan finds the spans in s[from:]; s[:from] is context that was already
// handled. Unless final, it also returns hold: the position from which the
// result could change once more input arrives; spans all end at or before
// hold, and the caller must keep s[hold:] and scan it again with more input.
func (sc *scanner) scan(s []byte, from int, final bool, spans []Span) ([]Span, int) {
	return sc.scanAfter(s, from, 0, 0, final, spans)
}

// scanAfter is scan for a stream whose last span ended at spanEnd.
func (sc *scanner) scanAfter(s []byte, from, spanStart, spanEnd int, final bool, spans []Span) ([]Span, int) {
	st := scanState{sc: sc, s: s, n: len(s), final: final, lo: from, spanStart: spanStart, spanEnd: spanEnd, hold: len(s), spans: spans[:0]}
	st.run(from)
	if !final {
		st.holdTrailingToken(from)
	}
	if sc.rules != nil {
		st.userRules(from)
	}
	return st.spans, st.hold
}

func (st *scanState) run(from int) {
	s, n := st.s, st.n
	for i := from; i < n && !st.stopped; {
		// most bytes trigger nothing: skip them four at a time
		for i+4 <= n {
			w := s[i : i+4 : i+4]
			if trigger[w[0]] || trigger[w[1]] || trigger[w[2]] || trigger[w[3]] {
				break
			}
			i += 4
		}
		if i >= n {
			break
		}
		c := s[i]
		if !trigger[c] {
			i++
			continue
		}
		var next int
		st.trig = i
		switch {
		case isDigit(c):
			next = st.atDigit(i)
		case c == '-':
			next = st.atDash(i)
		case c == ':':
			next = st.atColon(i)
		case c == '=':
			next = st.atEquals(i)
		case c == '.':
			next = st.atDot(i)
		case c == '_':
			next = st.atUnderscore(i)
		case c == '/':
			next = st.atSlash(i)
		default:
			next = st.atUpper(i)
		}
		if next <= i {
			next = i + 1
		}
		i = next
	}
}

// more records that the text from pos on cannot be decided without more
// input, and stops the scan.
func (st *scanState) more(pos int) int {
	if pos < st.hold {
		st.hold = pos
	}
	st.stopped = true
	return st.n
}

// emit records a span unless it is switched off or allowed; it returns the
// position to continue at.
func (st *scanState) emit(sp Span) int {
	if sp.Start < st.lo || sp.End <= sp.Start {
		return sp.End
	}
	if r := st.sc.rules; r != nil {
		if r.disabled[sp.Kind] {
			return sp.End
		}
		if len(r.allow) > 0 {
			v := string(st.s[sp.Start:sp.End])
			if sp.Dashed {
				v = dashedToDotted(v)
			}
			if r.allow[v] {
				return sp.End
			}
		}
	}
	s := st.s
	if anchorOf(string(s[sp.Start:sp.End])) < 0 {
		// a value this short reads as a word, and so would its
		// pseudonym: it could not be told apart when restored
		return sp.End
	}
	if (sp.End < st.n && isWord(s[sp.End-1]) && isWord(s[sp.End])) ||
		(isWord(s[sp.Start]) && !wordBoundaryBefore(s, sp.Start)) {
		// glued to a word: not a token of its own (and its pseudonym
		// would not be found again as one)
		return sp.End
	}
	sp.origin = min(st.trig, sp.Start)
	st.spans = append(st.spans, sp)
	st.lo = sp.End
	st.spanStart, st.spanEnd = sp.Start, sp.End
	return sp.End
}

// inSpan reports whether s[a:b] overlaps an identifier found before: its
// text differs between the original and the masked text, so it is never
// read as context.
func (st *scanState) inSpan(a, b int) bool {
	if a < st.spanEnd && b > st.spanStart {
		return true
	}
	for k := len(st.spans) - 1; k >= 0; k-- {
		sp := st.spans[k]
		if sp.End <= a {
			break
		}
		if sp.Start < b {
			return true
		}
	}
	return false
}

// holdTrailingToken keeps back the final run of bytes that could still
// grow into a span, and any span that crosses it.
func (st *scanState) holdTrailingToken(from int) {
	t := st.n
	for t > from && class[st.s[t-1]]&cHold != 0 && st.n-t < maxTokenLen {
		t--
	}
	if t < st.hold {
		st.hold = t
	}
	// a span that crosses the hold point is dropped and looked for again
	// from where its detector started, with the other spans it found
	for k := len(st.spans) - 1; k >= 0; k-- {
		sp := st.spans[k]
		if sp.End <= st.hold {
			break
		}
		if sp.origin < st.hold {
			st.hold = sp.origin
		}
		st.spans = st.spans[:k]
	}
}

// ---- digits: IPv4 addresses and account IDs -------------------------------

func (st *scanState) atDigit(i int) int {
	s, n := st.s, st.n
	j := i
	for j < n && isDigit(s[j]) {
		j++
	}
	if i > 0 {
		p := s[i-1]
		if (isWord(p) && !escapeEndsAt(s, i)) || p == '.' {
			// glued to a word; but an escape unit may end inside the
			// digits (\udc0010.0.1.5), and a token start after it
			if bytes.IndexByte(s[max(i-6, 0):j], '\\') >= 0 {
				for k := i + 1; k < j; k++ {
					if escapeEndsAt(s, k) {
						return k
					}
				}
			}
			return j
		}
	}
	if j == n && !st.final {
		return st.more(i)
	}
	if j-i <= 3 && j < n && s[j] == '.' {
		if end, ok := st.ipv4(i); ok {
			return end
		}
		if st.stopped {
			return st.n
		}
		return j
	}
	if j-i == 12 && (j == n || !isWord(s[j])) {
		if st.accountContext(i, j) {
			if !leftAloneAccounts[string(s[i:j])] {
				return st.emit(Span{Start: i, End: j, Kind: KindAccountID})
			}
		}
		if st.stopped {
			return st.n
		}
	}
	return j
}

// parseOctets reads a dotted quad at i. It returns the end, the address,
// and whether more input is needed to decide.
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

func (st *scanState) ipv4(i int) (int, bool) {
	s, n := st.s, st.n
	end, a, ok, more := parseQuad(s, i, '.', st.final)
	if more {
		st.more(i)
		return 0, false
	}
	if !ok {
		return 0, false
	}
	// A fifth component or a trailing word makes it a version or an OID.
	if end < n {
		c := s[end]
		if isWord(c) {
			return 0, false
		}
		if c == '.' {
			if end+1 == n && !st.final {
				st.more(i)
				return 0, false
			}
			if end+1 < n && isDigit(s[end+1]) {
				return 0, false
			}
		}
	} else if !st.final {
		st.more(i)
		return 0, false
	}
	// 1.2.3.4-abc.example.com is a hostname label, not an address (but
	// 10.0.0.1-10.0.0.9 is a range of two)
	if end < n && s[end] == '-' {
		r := end + 1
		for r < n && isAlnum(s[r]) {
			r++
		}
		if r == n && !st.final {
			st.more(i)
			return 0, false
		}
		if r > end+1 && r < n && s[r] == '.' {
			if _, _, ok, more := parseQuad(s, end+1, '.', st.final); more {
				st.more(i)
				return 0, false
			} else if !ok {
				return 0, false
			}
		}
	}
	bits := 32
	spanEnd := end
	if end < n && s[end] == '/' {
		q := end + 1
		v := 0
		for q < n && isDigit(s[q]) && q-end <= 3 {
			v = v*10 + int(s[q]-'0')
			q++
		}
		if q == n && !st.final {
			st.more(i)
			return 0, false
		}
		if q+1 == n && s[q] == '.' && !st.final {
			st.more(i)
			return 0, false
		}
		// "/23.45.67.89" starts another address, not a prefix length
		nextQuad := q+1 < n && s[q] == '.' && isDigit(s[q+1])
		if q > end+1 && q-end <= 3 && v <= 32 && !(q-end > 2 && s[end+1] == '0') && (q == n || (!isWord(s[q]) && !nextQuad)) {
			bits = v
			spanEnd = q
		}
	}
	if st.versionContext(i) {
		return 0, false
	}
	if ipv4LeftAlone(a, bits) {
		return spanEnd, true
	}
	return st.emit(Span{Start: i, End: spanEnd, Kind: KindIPv4}), true
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

// accountContext decides whether the 12 digits at s[i:j] are an account ID:
// a key, flag or word before them says so, or an ECR host or an SQS path
// is around them. Lists (`"OwnerIds": ["…", "…"]`) inherit the context of
// their first element.
func (st *scanState) accountContext(i, j int) bool {
	s := st.s
	if hasPrefixAt(s, j, ".dkr.ecr.") || hasPrefixAt(s, j, " eni-") {
		// ECR registry hosts; VPC flow log records (version account-id interface-id …)
		return true
	}
	if !st.final && prefixMayContinue(s, j, " eni-") {
		st.more(i)
		return false
	}
	if !st.final && prefixMayContinue(s, j, ".dkr.ecr.") {
		st.more(i)
		return false
	}
	lim := i - maxContextBack
	if lim < 0 {
		lim = 0
	}
	p := i
	for hops := 0; hops < 16; hops++ {
		// separators between a key or word and its value
		inList := false
		for p > lim {
			c := s[p-1]
			if c == ',' {
				inList = true
			}
			if inList && c == '"' && p-1 > lim {
				// a previous element of the list: ["arn:…", "123456789012"]
				if k := bytes.LastIndexByte(s[lim:p-1], '"'); k >= 0 && bytes.IndexByte(s[lim+k:p-1], '\n') < 0 {
					p = lim + k
					inList = false
					continue
				}
			}
			if l := lineNumberStart(s, p, lim); l >= 0 {
				p = l // a line number the Read tool put there
				continue
			}
			if c == ' ' || c == '\t' || c == '"' || c == '\'' || c == ':' || c == '=' || c == ',' ||
				c == '[' || c == '(' || c == '\n' || c == '\r' || c == '#' || c == '\\' || c == '>' || c == '|' {
				p--
				continue
			}
			break
		}
		if p <= lim {
			return false
		}
		if s[p-1] == '/' {
			// https://sqs.<region>.amazonaws.com/123456789012/queue
			return bytes.HasSuffix(s[lim:p], []byte("amazonaws.com/"))
		}
		// another 12-digit value in the same list: look past it
		q := p
		for q > lim && isDigit(s[q-1]) {
			q--
		}
		if p-q == 12 {
			p = q
			continue
		}
		if q != p {
			return false
		}
		e := p
		for p > lim && (isAlnum(s[p-1]) || s[p-1] == '_' || s[p-1] == '-') {
			p--
		}
		if st.inSpan(p, e) {
			return false // the word is (part of) an earlier identifier
		}
		var buf [48]byte
		w := normKey(buf[:0], s[p:e])
		if len(w) == 0 || len(w) > 40 {
			return false
		}
		quotedWord := p > 0 && (s[p-1] == '"' || s[p-1] == '\'')
		if k, ok := keyKind(w, s[p:e], quotedWord); (ok && k&^suffixMatch == KindAccountID) || accountWords[string(w)] {
			return true
		}
		switch string(w) {
		case "id", "ids", "number", "no", "num", "nr":
			// "account ID 1234…", "Account number: 1234…"
			for p > lim && (s[p-1] == ' ' || s[p-1] == '\t') {
				p--
			}
			e2 := p
			for p > lim && isAlnum(s[p-1]) {
				p--
			}
			w2 := normKey(buf[:0], s[p:e2])
			return accountWords[string(w2)]
		}
		return false
	}
	return false
}

// ---- '-': resource IDs, flags, dashed hostnames, PEM, sk-ant, xox -------

func (st *scanState) atDash(i int) int {
	s, n := st.s, st.n
	if i+1 >= n {
		if !st.final {
			return st.more(st.wordStart(i))
		}
		return n
	}
	nx := s[i+1]
	if nx == '-' {
		if hasPrefixAt(s, i, "-----BEGIN") || prefixMayContinue(s, i, "-----BEGIN") {
			return st.pem(i)
		}
		if i == 0 || !(isWord(s[i-1]) || s[i-1] == '-') || escapeEndsAt(s, i) {
			return st.flag(i)
		}
		return i + 2
	}
	a := st.wordStart(i)
	if a == i {
		return i + 1
	}
	st.trig = a // found again from the word's start (ip-, ec2-, sk-)
	w := s[a:i]
	switch {
	case isDigit(nx) && (string(w) == "ip" || string(w) == "ec2"):
		if end, ok := st.dashedIPv4(a, i+1); ok || st.stopped {
			return end
		}
	case string(w) == "sk" && (hasPrefixAt(s, i+1, "ant-") || prefixMayContinue(s, i+1, "ant-")):
		return st.token(a, i+1+len("ant-"), KindAnthropicKey, 20, "-_", true)
	case len(w) == 4 && w[0] == 'x' && w[1] == 'o' && w[2] == 'x' && bytes.IndexByte([]byte("baprse"), w[3]) >= 0:
		return st.token(a, i+1, KindSlackToken, 10, "-", false)
	}
	if !isHexLo(nx) {
		return st.proseName(i)
	}
	if end := st.resourceID(a, i); len(st.spans) > 0 && st.spans[len(st.spans)-1].End == end || st.stopped {
		return end
	}
	return st.proseName(i)
}

// proseName finds a resource's name in prose, named by the noun before
// it: "the bucket acme-logs-prod", "RDS instance orders-db-2", "table
// ledger_2024", "log group app-audit", "Glue job nightly-etl". The name
// must read as one (a letter and a digit, '-' or '_'); i is a '-' or '_'
// inside it.
func (st *scanState) proseName(i int) int {
	s, n := st.s, st.n
	a := i
	for a > st.lo && i-a < 64 && nameByte(s[a-1]) {
		a--
	}
	if a < i && bytes.IndexByte(s[max(a-6, 0):i], '\\') >= 0 {
		// an escape may end inside the name: it starts after it
		for a = i; a > st.lo && i-a < 64 && nameByte(s[a-1]) && !escapeEndsAt(s, a); a-- {
		}
	}
	if a < 2 || s[a-1] != ' ' {
		return i + 1
	}
	k, ok := st.proseNoun(a - 1)
	if !ok {
		return i + 1
	}
	b := i + 1
	for b < n && b-a < 64 && nameByte(s[b]) {
		b++
	}
	if b == n && !st.final {
		return st.more(a)
	}
	for b > i && (s[b-1] == '.' || s[b-1] == '-' || s[b-1] == '_') {
		b-- // a sentence's period, a trailing dash
	}
	v := s[a:b]
	if k == KindKMSKey {
		if !uuidShaped(v) {
			return i + 1
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	}
	if b-a < minToken || (b < n && isWord(s[b])) || !nameShaped(v) || nameReadable(v) {
		return i + 1
	}
	if k == KindS3Bucket {
		if !bucketShaped(v) || bytes.IndexByte(v, '-') < 0 {
			return i + 1
		}
	} else if bytes.IndexByte(v, '.') >= 0 {
		return i + 1 // an instance class (db.r5.large), a file name
	}
	// an ID or address on its own is found by its own detector
	sub := scanner{}
	if spans, _ := sub.scan(v, 0, true, nil); len(spans) > 0 {
		return i + 1
	}
	return st.emit(Span{Start: a, End: b, Kind: k})
}

func nameByte(c byte) bool { return isWord(c) || c == '-' || c == '.' }

// proseNouns are the words that, right before a name in prose, say what
// it names.
var proseNouns = map[string]Kind{
	"bucket": KindS3Bucket, "table": KindResourceName, "cluster": KindResourceName,
	"instance": KindResourceName, "database": KindResourceName, "function": KindResourceName,
	"queue": KindResourceName, "topic": KindResourceName, "stream": KindResourceName,
	"role": KindResourceName, "repository": KindResourceName, "repo": KindResourceName,
	"job": KindResourceName, "stack": KindResourceName, "secret": KindResourceName,
	"parameter": KindResourceName, "distribution": KindResourceName, "service": KindResourceName,
	"pipeline": KindResourceName, "workgroup": KindResourceName, "crawler": KindResourceName,
	"vault": KindResourceName, "keypair": KindResourceName, "pair": KindResourceName,
	"group": KindResourceName, "balancer": KindResourceName, "machine": KindResourceName,
	"user": KindResourceName, "nodegroup": KindResourceName,
	"key": KindKMSKey, // a KMS key ID only (KMS key 1234abcd-…)
}

// proseNoun reads the word that ends at e (a space follows it) and says
// whether it names a resource, and which kind: "log group" is a log group.
func (st *scanState) proseNoun(e int) (Kind, bool) {
	s := st.s
	w := e
	for w > 0 && e-w < 16 && isAlnum(s[w-1]) {
		w--
	}
	if w == e || (w > 0 && isWord(s[w-1])) || st.inSpan(w, e) {
		return 0, false
	}
	var buf [16]byte
	k, ok := proseNouns[string(normKey(buf[:0], s[w:e]))]
	if !ok {
		return 0, false
	}
	if k == KindResourceName && string(normKey(buf[:0], s[w:e])) == "group" && w >= 4 {
		if q := s[w-4 : w-1]; s[w-1] == ' ' && (string(q) == "log" || string(q) == "Log") {
			return KindLogGroup, true
		}
	}
	return k, true
}

// wordStart returns the start of the run of lowercase letters and digits
// ending at i (a lowercase word, possibly compound like "eni-attach").
func (st *scanState) wordStart(i int) int {
	s := st.s
	a := i
	lim := i - 24
	if lim < st.lo {
		lim = st.lo
	}
	for a > lim && (isLower(s[a-1]) || isDigit(s[a-1])) && !escapeEndsAt(s, a) {
		a--
	}
	return a
}

// resourceID looks for <prefix>-<8..17 hex> with the dash at i and the
// prefix's last word starting at a.
func (st *scanState) resourceID(a, i int) int {
	s, n := st.s, st.n
	j := i + 1
	for j < n && isHexLo(s[j]) && j-i <= 18 {
		j++
	}
	if j == n && !st.final {
		return st.more(st.compoundStart(a))
	}
	h := j - i - 1
	if h < 8 || h > 17 || (j < n && isWord(s[j])) {
		return j
	}
	start := st.compoundStart(a)
	for start < a {
		// prefer the longest known compound prefix (tgw-attach over attach)
		if k, ok := resourcePrefixes[string(s[start:i])]; ok && wordBoundaryBefore(s, start) {
			return st.emit(Span{Start: start, End: j, Kind: k, Keep: i + 1 - start})
		}
		start = bytes.IndexByte(s[start:i], '-') + start + 1
	}
	if !wordBoundaryBefore(s, a) && s[a-1] != '-' {
		return j
	}
	prefix := s[a:i]
	if isDigit(prefix[0]) {
		return j
	}
	if k, ok := resourcePrefixes[string(prefix)]; ok {
		return st.emit(Span{Start: a, End: j, Kind: k, Keep: i + 1 - a})
	}
	if h == 17 && len(prefix) <= 16 {
		return st.emit(Span{Start: a, End: j, Kind: KindResourceID, Keep: i + 1 - a})
	}
	return j
}

// compoundStart extends a word start back over one "-word" (eni-attach,
// vpce-svc, tgw-rtb, ipam-pool).
func (st *scanState) compoundStart(a int) int {
	s := st.s
	if a-1 > st.lo && s[a-1] == '-' {
		b := a - 1
		for b > st.lo && b > a-12 && isLower(s[b-1]) && !escapeEndsAt(s, b) {
			b--
		}
		if b < a-1 {
			return b
		}
	}
	return a
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

// pem handles -----BEGIN … PRIVATE KEY----- blocks, and PGP's PRIVATE
// KEY BLOCK: the body is masked.
func (st *scanState) pem(i int) int {
	s, n := st.s, st.n
	if !hasPrefixAt(s, i, "-----BEGIN") {
		if !st.final {
			return st.more(i)
		}
		return n
	}
	// header line
	h := i + len("-----BEGIN")
	e := h
	for e < n && e-h < 64 && s[e] != '\n' && s[e] != '\\' {
		if hasPrefixAt(s, e, "-----") {
			break
		}
		e++
	}
	if e == n || (!hasPrefixAt(s, e, "-----") && e+5 > n) {
		if !st.final {
			return st.more(i)
		}
		return n
	}
	if !hasPrefixAt(s, e, "-----") || !(bytes.HasSuffix(s[h:e], []byte("PRIVATE KEY")) || bytes.HasSuffix(s[h:e], []byte("PGP PRIVATE KEY BLOCK"))) {
		return e
	}
	body := e + 5
	lim := body + maxPEM
	if lim > n {
		lim = n
	}
	end := bytes.Index(s[body:lim], []byte("-----END"))
	if end < 0 {
		if !st.final && lim == n {
			return st.more(i)
		}
		end = lim - body
	}
	return st.emit(Span{Start: body, End: body + end, Kind: KindPrivateKey})
}

// token handles prefixed secrets: the span starts at a, bytes up to b are
// kept, and at least minLen body bytes of [A-Za-z0-9] plus extra must follow.
func (st *scanState) token(a, b int, k Kind, minLen int, extra string, keepToDash bool) int {
	s, n := st.s, st.n
	if b > n {
		if !st.final {
			return st.more(a)
		}
		return n
	}
	if !wordBoundaryBefore(s, a) {
		return b
	}
	j := b
	for j < n && j-a < maxTokenLen && (isAlnum(s[j]) || (len(extra) > 0 && bytes.IndexByte([]byte(extra), s[j]) >= 0)) {
		j++
	}
	if j == n && !st.final {
		return st.more(a)
	}
	if j-b < minLen {
		return j
	}
	keep := b
	if keepToDash {
		// sk-ant-api03-…: keep the version segment readable
		if d := bytes.IndexByte(s[b:j], '-'); d >= 0 && d <= 8 {
			keep = b + d + 1
		}
	}
	return st.emit(Span{Start: a, End: j, Kind: k, Keep: keep - a})
}

// ---- '_': GitHub and Stripe tokens ----------------------------------------

func (st *scanState) atUnderscore(i int) int {
	s := st.s
	a := i
	for a > st.lo && a > i-7 && isLower(s[a-1]) && !escapeEndsAt(s, a) {
		a--
	}
	switch string(s[a:i]) {
	case "ghp", "gho", "ghu", "ghs", "ghr":
		return st.token(a, i+1, KindGitHubToken, 30, "", false)
	case "github":
		if hasPrefixAt(s, i+1, "pat_") {
			return st.token(a, i+5, KindGitHubToken, 40, "_", false)
		}
		if prefixMayContinue(s, i+1, "pat_") && !st.final {
			return st.more(a)
		}
	case "sk", "rk", "pk":
		for _, mode := range []string{"live_", "test_"} {
			if hasPrefixAt(s, i+1, mode) {
				if string(s[a:i]) == "pk" {
					return i + 1 // publishable keys are public
				}
				return st.token(a, i+1+len(mode), KindStripeKey, 16, "", false)
			}
			if prefixMayContinue(s, i+1, mode) && !st.final {
				return st.more(a)
			}
		}
	}
	return st.proseName(i)
}

// ---- uppercase prefixes: access keys, session tokens, Google, Bedrock ----

// isAccessKeyPrefix: AKIA ASIA ABIA ACCA AGPA AIDA AROA AIPA ANPA ANVA APKA ASCA.
func isAccessKeyPrefix(p []byte) bool {
	if p[3] != 'A' {
		return false
	}
	switch string(p[:3]) {
	case "AKI", "ASI", "ABI", "ACC", "AGP", "AID", "ARO", "AIP", "ANP", "ANV", "APK", "ASC":
		return true
	}
	return false
}

// isUniqueIDPrefix: the prefixes of IAM unique IDs, which are 21
// characters long where access key IDs are 20.
func isUniqueIDPrefix(p []byte) bool {
	switch string(p) {
	case "AROA", "AIDA", "AIPA", "ANPA", "AGPA", "ANVA", "ASCA", "APKA":
		return true
	}
	return false
}

const (
	sessionPrefixV2 = "IQoJb3JpZ2luX2Vj" // base64 of the token header's "origin_ec"
	sessionPrefixV1 = "FwoGZXIvYXdz"
)

func (st *scanState) atUpper(i int) int {
	s, n := st.s, st.n
	c := s[i]
	if i+1 < n {
		switch {
		case c == 'I' && s[i+1] != 'Q', c == 'F' && s[i+1] != 'w':
			return i + 1
		}
	}
	if !wordBoundaryBefore(s, i) {
		return i + 1
	}
	if n-i < 4 {
		if !st.final && (c == 'A' || prefixMayContinue(s, i, sessionPrefixV1) || prefixMayContinue(s, i, sessionPrefixV2)) {
			return st.more(i)
		}
		return n
	}
	switch c {
	case 'I':
		if hasPrefixAt(s, i, sessionPrefixV2) {
			return st.base64Token(i, len(sessionPrefixV2), KindSessionToken, 100)
		}
		if prefixMayContinue(s, i, sessionPrefixV2) && !st.final {
			return st.more(i)
		}
		return i + 1
	case 'F':
		if hasPrefixAt(s, i, sessionPrefixV1) {
			return st.base64Token(i, len(sessionPrefixV1), KindSessionToken, 100)
		}
		if prefixMayContinue(s, i, sessionPrefixV1) && !st.final {
			return st.more(i)
		}
		return i + 1
	}
	switch p := s[i : i+4 : i+4]; {
	case isAccessKeyPrefix(p):
		j := i + 4
		base32 := true
		for j < n && j-i < 22 && (isUpper(s[j]) || isDigit(s[j])) {
			base32 = base32 && !(s[j] == '0' || s[j] == '1' || s[j] == '8' || s[j] == '9')
			j++
		}
		if j == n && !st.final {
			return st.more(i)
		}
		if (j < n && isWord(s[j])) || bytes.HasSuffix(s[i:j], []byte("EXAMPLE")) {
			return j
		}
		if j-i == 21 && isUniqueIDPrefix(p) {
			// a role's, user's or instance profile's unique ID (AROA…, the
			// principalId of CloudTrail, sts get-caller-identity's UserId)
			return st.emit(Span{Start: i, End: j, Kind: KindIAMUniqueID, Keep: 4})
		}
		if j-i != 20 || !base32 {
			return j
		}
		p, q, ok, more := st.pairedSecret(j)
		if more {
			return st.more(i)
		}
		end := st.emit(Span{Start: i, End: j, Kind: KindAccessKeyID, Keep: 4})
		if ok {
			return st.emit(Span{Start: p, End: q, Kind: KindSecretAccessKey})
		}
		return end
	case string(p) == "AIza":
		return st.token(i, i+4, KindGoogleAPIKey, 30, "-_", false)
	case string(p) == "ABSK":
		return st.base64Token(i, 4, KindBedrockKey, 32)
	}
	return i + 1
}

// base64Token reads a base64 run (with '=' padding) starting at i.
func (st *scanState) base64Token(i, keep int, k Kind, minLen int) int {
	s, n := st.s, st.n
	j, lim := i+keep, maxTokenLen
	if secretKind(k) {
		lim = maxSecretLen
	}
	for j < n && j-i < lim && (isB64(s[j]) || s[j] == '=') {
		j++
	}
	if j == n && !st.final {
		return st.more(i)
	}
	if j-i < minLen || (j < n && isWord(s[j])) {
		return j
	}
	return st.emit(Span{Start: i, End: j, Kind: k, Keep: keep})
}

// pairedSecret finds a 40-character secret access key right after an
// access key ID that ends at j, separated only by punctuation or spaces
// (CSV exports, "id:secret" pairs). Keys written with their names are found
// by context.
func (st *scanState) pairedSecret(j int) (p, q int, ok, more bool) {
	s, n := st.s, st.n
	p = j
	for p < n && p-j < 8 && !isB64(s[p]) && s[p] != '\n' {
		p++
	}
	// aws iam create-access-key --output text: the key ID, its creation
	// date, then the secret, a tab apart
	dated := false
	if p > j && s[p-1] == '\t' {
		if !st.final && n-p < 34 {
			return 0, 0, false, true // the date may go on
		}
		if e := isoDateAt(s, p); e > p && e < n && s[e] == '\t' {
			p, dated = e+1, true
		}
	}
	if p == n {
		return 0, 0, false, !st.final && (dated || p-j < 8)
	}
	if p == j || !isB64(s[p]) {
		return 0, 0, false, false
	}
	q = p
	for q < n && q-p <= 40 && isB64(s[q]) {
		q++
	}
	if q == n && !st.final {
		return 0, 0, false, true
	}
	ok = q-p == 40 && (q == n || !isWord(s[q])) && hasMixedB64(s[p:q]) && !bytes.Contains(s[p:q], []byte("EXAMPLEKEY"))
	return p, q, ok, false
}

// isoDateAt returns the end of an ISO 8601 timestamp at s[p:]
// (2024-05-02T08:15:03+00:00, …Z), or p.
func isoDateAt(s []byte, p int) int {
	q := p
	for q < len(s) && q-p < 32 && (isDigit(s[q]) || s[q] == '-' || s[q] == ':' || s[q] == 'T' || s[q] == 'Z' || s[q] == '+' || s[q] == '.') {
		q++
	}
	if q-p < 19 || s[p+4] != '-' || s[p+10] != 'T' {
		return p
	}
	return q
}

// hasMixedB64 is true for random-looking base64: upper, lower and digits.
func hasMixedB64(b []byte) bool {
	var u, l, d bool
	for _, c := range b {
		u = u || isUpper(c)
		l = l || isLower(c)
		d = d || isDigit(c)
	}
	return u && l && d
}

// ---- ':' ARNs, URLs with credentials, s3://, key: value, IPv6 ------------

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

// contextValue reads the value after a key or flag (the separator ends at
// j) and emits it as kind k if it fits.
func (st *scanState) contextValue(trig, j int, k Kind) int {
	s, n := st.s, st.n
	if j < n && s[j] == '=' && s[j-1] == ':' {
		j++ // Go's tableName := "…"
	}
	p := skipBlank(s, j, n)
	// list values: "OwnerIds": ["…"] and --owners 1 2
	if k == KindAccountID {
		return p
	}
	if p == n {
		if !st.final {
			return st.more(trig)
		}
		return n
	}
	// a wrapper call around a literal: aws.String("…"), str('…')
	if isLower(s[p]) && !st.declared {
		q := p
		for q < n && q-p < 24 && (isWord(s[q]) || s[q] == '.') {
			q++
		}
		if q < n && s[q] == '(' && q+1 < n && (s[q+1] == '"' || s[q+1] == '\'') {
			p = q + 1
		} else if q+1 >= n && !st.final {
			return st.more(trig)
		}
	}
	var quote byte
	if s[p] == '"' || s[p] == '\'' {
		quote = s[p]
		p++
	} else if st.declared || terraformReference(s[p:]) {
		return p // a variable set from an expression, not a literal
	}
	start := p
	var end int
	if quote != 0 {
		lim := p + maxQuotedName
		if secretKind(k) {
			lim = p + maxSecretLen
		}
		q := p
		found := false
		secret := k == KindPassword || secretKind(k)
		for q < n && q < lim {
			c := s[q]
			if c == '\n' || (c == '\\' && !secret) {
				break
			}
			if c == quote {
				// a secret's own quote, escaped in the text (its escape
				// is decoded here), is followed by more of it: "ab\"cd"
				if secret && q+1 == n && !st.final {
					return st.more(trig)
				}
				if !secret || q+1 >= n || !isWord(s[q+1]) {
					found = true
					break
				}
				if j := bytes.IndexByte(s[q+1:min(n, lim)], quote); j < 0 {
					if min(n, lim) == n && !st.final {
						return st.more(trig)
					}
					found = true
					break
				}
			}
			q++
		}
		if q == n && !st.final {
			return st.more(trig)
		}
		if !found {
			return p
		}
		end = q
	} else {
		q, lim := p, maxTokenLen
		if secretKind(k) {
			lim = maxSecretLen
		}
		for q < n && q-p < lim && valueByte(s[q]) {
			q++
		}
		if k == KindPassword && q < n && !(s[q] == '(' || s[q] == '[') {
			// a password is everything up to a space or a quote, but for
			// the next pair of a connection string or query (;Database=)
			for q < n && q-p < lim && passwordByte(s[q]) && !nextPair(s, q) {
				q++
			}
		}
		if q == n && !st.final {
			return st.more(trig)
		}
		if q < n && (s[q] == '(' || s[q] == '[') {
			return q // code: Username: u.Username(), bucket = hash[2:]
		}
		if k == KindPassword {
			// a sentence's comma or semicolon after it
			for q > p && (s[q-1] == ',' || s[q-1] == ';') {
				q--
			}
		}
		// a trailing period ends a sentence, not a name
		for q > p && (s[q-1] == '.' || s[q-1] == ':') {
			q--
		}
		end = q
	}
	if end == start {
		return end
	}
	return st.emitValue(start, end, k)
}

// skipBlank skips what may stand between a key and its value besides
// spaces: tabs, no-break spaces, and terminal colours (\x1b[33m).
func skipBlank(s []byte, p, n int) int {
	for start := p; p < n && p-start < 16; {
		switch {
		case s[p] == ' ' || s[p] == '\t':
			p++
		case s[p] == 0xc2 && p+1 < n && s[p+1] == 0xa0:
			p += 2
		case s[p] == 0x1b && p+1 < n && s[p+1] == '[':
			q := p + 2
			for q < n && (isDigit(s[q]) || s[q] == ';') {
				q++
			}
			if q >= n || s[q] != 'm' {
				return p
			}
			p = q + 1
		default:
			return p
		}
	}
	return p
}

func valueByte(c byte) bool {
	return isWord(c) || c == '-' || c == '.' || c == '/' || c == '+' || c == '=' || c == '@' || c == '%' || c == '#'
}

// passwordByte: what an unquoted password may hold, any byte but spaces,
// quotes and control characters.
func passwordByte(c byte) bool {
	return c > ' ' && c != '"' && c != '\'' && c != '`' && c != 0x7f
}

// nextPair reports whether s[q] separates a value from the next key=value
// pair (;Database=x, &region=y, ,port=5432).
func nextPair(s []byte, q int) bool {
	if c := s[q]; c != ';' && c != '&' && c != ',' {
		return false
	}
	j := q + 1
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for j < len(s) && j-k < 32 && (isWord(s[j]) || s[j] == ' ' || s[j] == '.' || s[j] == '-') {
		j++
	}
	return j > k && j < len(s) && s[j] == '=' && (isLower(s[k]) || isUpper(s[k]))
}

// emitValue emits a whole value found by context, after checking its shape.
// Values that hold other identifiers (an ARN as SecretId) are scanned as
// text instead, so their structure stays readable.
func (st *scanState) emitValue(a, b int, k Kind) int {
	s := st.s
	v := s[a:b]
	switch k {
	case KindAccountID:
		return a
	case KindSecretAccessKey, KindSessionToken:
		if len(v) < 16 || !allB64(v) || bytes.Contains(v, []byte("EXAMPLEKEY")) {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	case KindBedrockKey:
		for _, c := range v {
			if !isB64(c) && c != '=' && c != '-' && c != '_' {
				return a
			}
		}
		if len(v) < 16 {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	case KindAmzSignature:
		if len(v) < 32 {
			return a
		}
		for _, c := range v {
			if !isHexLo(c) {
				return a
			}
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	case KindPassword:
		if len(v) < 4 || isPlaceholder(v) || bytes.Equal(v, st.keyText) || passwordPlaceholders[string(bytes.ToLower(v))] {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	}
	if len(v) == 0 || nameReadable(v) || !hasAlnum(v) || bytes.Equal(v, st.keyText) {
		return a
	}
	if st.shaped && (!nameShaped(v) || bytes.IndexByte(v, '-') < 0) {
		return a // ID: http2SettingEnablePush is code, ID: web-prod-42 a name
	}
	switch k {
	case KindKMSKey:
		if !uuidShaped(v) {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	case KindHostedZone:
		if !hostedZoneShaped(v) {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	case KindAPIGateway:
		if len(v) != 10 || !allLowerAlnum(v) {
			return a
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	}
	if k == KindS3Bucket && (!bucketShaped(v) || (st.suffixKey && bytes.IndexByte(v, '-') < 0)) {
		return a
	}
	if bytes.HasPrefix(v, []byte("arn:")) || bytes.Contains(v, []byte("://")) || bytes.Contains(v, []byte("${")) ||
		bytes.Contains(v, []byte("{{")) {
		return a
	}
	// an ID or address on its own is found (and shaped) by its own detector
	sub := scanner{}
	if spans, _ := sub.scan(v, 0, true, nil); len(spans) > 0 {
		return a
	}
	return st.emit(Span{Start: a, End: b, Kind: k})
}

// terraformReference recognizes a Terraform expression as a value
// (role = aws_iam_role.app.name, bucket = var.bucket): not a name.
func terraformReference(v []byte) bool {
	for _, p := range []string{"var.", "local.", "module.", "data.", "each.", "count.", "self.", "path.", "aws_", "terraform."} {
		if hasPrefixAt(v, 0, p) {
			return true
		}
	}
	return false
}

// nameShaped: a token that reads as a resource's name, not as a word or a
// number: a letter, and a digit, '-' or '_' besides (web-prod-42, etl_2).
func nameShaped(v []byte) bool {
	letter, mark := false, false
	for _, c := range v {
		switch {
		case isUpper(c) || isLower(c):
			letter = true
		case isDigit(c) || c == '-' || c == '_':
			mark = true
		case c == '.':
		default:
			return false
		}
	}
	return letter && mark && len(v) >= minToken
}

// uuidShaped: 8-4-4-4-12 hex digits of one case (KMS key IDs).
func uuidShaped(v []byte) bool {
	if len(v) != 36 || !sameCase(v) {
		return false
	}
	for i, c := range v {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHexAny(c) {
			return false
		}
	}
	return true
}

// hostedZoneShaped: Route 53 hosted zone IDs, Z and 10 to 32 of [A-Z0-9].
func hostedZoneShaped(v []byte) bool {
	if len(v) < 11 || len(v) > 33 || v[0] != 'Z' {
		return false
	}
	digit := false
	for _, c := range v[1:] {
		if !isUpper(c) && !isDigit(c) {
			return false
		}
		digit = digit || isDigit(c)
	}
	return digit
}

func allLowerAlnum(v []byte) bool {
	for _, c := range v {
		if !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

// bucketShaped: 3 to 63 of [a-z0-9.-], starting and ending alphanumeric,
// and not a number literal.
func bucketShaped(v []byte) bool {
	if len(v) < 3 || len(v) > 63 || !isAlnum(v[0]) || !isAlnum(v[len(v)-1]) {
		return false
	}
	for _, c := range v {
		if !(isLower(c) || isDigit(c) || c == '-' || c == '.') {
			return false
		}
	}
	return !(v[0] == '0' && v[1] == 'x') && !allDigits(v)
}

var passwordPlaceholders = map[string]bool{
	"password": true, "passwd": true, "pass": true, "secret": true, "changeme": true, "example": true,
	"xxx": true, "xxxx": true, "xxxxxx": true, "xxxxxxxx": true, "********": true, "redacted": true,
}

func allB64(v []byte) bool {
	for _, c := range v {
		if !isB64(c) && c != '=' && c != '%' {
			return false
		}
	}
	return true
}

func hasAlnum(v []byte) bool {
	for _, c := range v {
		if isAlnum(c) {
			return true
		}
	}
	return false
}

// isPlaceholder recognizes values that stand for a value rather than being
// one: variables, templates, redactions.
func isPlaceholder(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	last := v[len(v)-1]
	switch {
	case bytes.HasPrefix(v, []byte("${")), bytes.HasPrefix(v, []byte("$(")), bytes.HasPrefix(v, []byte("{{")),
		bytes.HasPrefix(v, []byte("%(")), bytes.HasPrefix(v, []byte("%{")), bytes.HasPrefix(v, []byte("%s")),
		bytes.HasPrefix(v, []byte("***")),
		v[0] == '<' && last == '>', v[0] == '{' && last == '}', v[0] == '%' && last == '%' && len(v) > 2:
		return true
	case v[0] == '$':
		// a variable ($DB_PASSWORD, $password); a mixed-case value with
		// digits ($uperS3cret9) is a secret
		return len(v) > 1 && (identOf(v[1:], isUpper) || identOf(v[1:], isLower))
	}
	switch string(v) {
	case "true", "false", "null", "none", "None", "nil", "string", "String", "required", "REDACTED":
		return true
	}
	return false
}

// identOf reports whether v is an identifier whose letters all pass case
// (DB_PASSWORD for isUpper, db_password for isLower).
func identOf(v []byte, letter func(byte) bool) bool {
	if len(v) == 0 || isDigit(v[0]) {
		return false
	}
	for _, c := range v {
		if !(letter(c) || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}

// url handles scheme://user:password@host and s3://bucket.
func (st *scanState) url(i int) int {
	s, n := st.s, st.n
	// the scheme is context, not part of a span: it may lie in text that
	// was already released, but never inside an earlier identifier
	a := i
	for a > 0 && a > i-16 && (isAlnum(s[a-1]) || s[a-1] == '+') && !escapeEndsAt(s, a) {
		a--
	}
	if st.inSpan(a, i) {
		return i + 3
	}
	scheme := s[a:i]
	p := i + 3
	if string(scheme) == "s3" || string(scheme) == "s3a" || string(scheme) == "s3n" {
		q := p
		for q < n && q-p < 64 && (isLower(s[q]) || isDigit(s[q]) || s[q] == '-' || s[q] == '.') {
			q++
		}
		if q == n && !st.final {
			return st.more(max(a, st.lo))
		}
		if q-p < 3 || (q < n && isWord(s[q])) {
			return q
		}
		return st.emit(Span{Start: p, End: q, Kind: KindS3Bucket})
	}
	// userinfo: up to '@' before any '/', whitespace or quote
	q := p
	colon := -1
	for q < n && q-p < 256 {
		c := s[q]
		if c == '@' || c == '/' || c == ' ' || c == '"' || c == '\'' || c == '\n' || c == '\\' || c == '<' || c == '>' {
			break
		}
		if c == ':' && colon < 0 {
			colon = q
		}
		q++
	}
	if q == n && !st.final {
		return st.more(max(a, st.lo))
	}
	if q < n && s[q] == '@' && colon > p && q > colon+1 && !isPlaceholder(s[colon+1:q]) && connectionSchemes[string(scheme)] &&
		!passwordPlaceholders[string(bytes.ToLower(s[colon+1:q]))] {
		return st.emit(Span{Start: colon + 1, End: q, Kind: KindPassword})
	}
	return p
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

func atoiSmall(b []byte) int {
	if len(b) == 0 || len(b) > 3 || (len(b) > 1 && b[0] == '0') {
		return -1
	}
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

// sameCase rejects mixed-case hex, so that the pseudonym can keep the case
// and two spellings never share one pseudonym.
func sameCase(b []byte) bool {
	var u, l bool
	for _, c := range b {
		u = u || (c >= 'A' && c <= 'F')
		l = l || (c >= 'a' && c <= 'f')
	}
	return !(u && l)
}
