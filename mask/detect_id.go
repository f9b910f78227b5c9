package mask

import "bytes"

// Resource IDs: <prefix>-<8..17 lowercase hex> (i-…, vol-…, tgw-attach-…),
// reached from the '-' trigger, which also hands off to flags, PEM blocks
// and prefixed tokens.

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
