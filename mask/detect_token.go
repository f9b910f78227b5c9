package mask

import "bytes"

// Tokens found by their own shape: access key IDs and the secret paired
// with them, IAM unique IDs, session tokens, Bedrock, GitHub, Stripe,
// Google, Anthropic and Slack keys, and PEM private keys.

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
		return st.accessKey(i)
	case string(p) == "AIza":
		return st.token(i, i+4, KindGoogleAPIKey, 30, "-_", false)
	case string(p) == "ABSK":
		return st.base64Token(i, 4, KindBedrockKey, 32)
	}
	return i + 1
}

// accessKey reads an access key ID (20 characters of base32) or an IAM
// unique ID (21, AROA…) at i, and the secret access key paired with an
// access key ID.
func (st *scanState) accessKey(i int) int {
	s, n := st.s, st.n
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
	if j-i == 21 && isUniqueIDPrefix(s[i:i+4]) {
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
		st.via = byPair
		return st.emit(Span{Start: p, End: q, Kind: KindSecretAccessKey})
	}
	return end
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
