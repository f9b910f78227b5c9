package mask

import "bytes"

// Account IDs: twelve digits that a key, flag or word names as an
// account, or that stand where AWS puts one (ECR hosts, SQS paths, flow logs).

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
				st.via = byContext
				return st.emit(Span{Start: i, End: j, Kind: KindAccountID})
			}
		}
		if st.stopped {
			return st.n
		}
	}
	return j
}

// accountContext decides whether the 12 digits at s[i:j] are an account ID:
// a key, flag or word before them says so, or an ECR host or an SQS path
// is around them. Lists (`"OwnerIds": ["…", "…"]`) inherit the context of
// their first element.
func (st *scanState) accountContext(i, j int) bool {
	if ok, decided := st.accountAfter(i, j); decided {
		return ok
	}
	s := st.s
	lim := max(i-maxContextBack, 0)
	p := i
	for hops := 0; hops < 16; hops++ {
		p = st.skipToWord(p, lim)
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
		return st.accountWordBefore(p, lim)
	}
	return false
}

// accountAfter decides by what follows the digits: an ECR registry host
// (.dkr.ecr.), or a VPC flow log record (version account-id interface-id
// …). decided is false when what follows says nothing.
func (st *scanState) accountAfter(i, j int) (ok, decided bool) {
	s := st.s
	if hasPrefixAt(s, j, ".dkr.ecr.") || hasPrefixAt(s, j, " eni-") {
		return true, true
	}
	if !st.final && (prefixMayContinue(s, j, " eni-") || prefixMayContinue(s, j, ".dkr.ecr.")) {
		st.more(i)
		return false, true
	}
	return false, false
}

// skipToWord walks back from p over what stands between a key or word and
// its value (quotes, separators, the Read tool's line numbers) and over
// earlier quoted elements of the same list (["arn:…", "123456789012"]).
func (st *scanState) skipToWord(p, lim int) int {
	s := st.s
	inList := false
	for p > lim {
		c := s[p-1]
		if c == ',' {
			inList = true
		}
		if inList && c == '"' && p-1 > lim {
			// a previous element of the list
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
	return p
}

// accountWordBefore reads the word that ends at p: a key or flag of
// account IDs, a word such as "account", or "ID"/"number" after one
// ("account ID 1234…", "Account number: 1234…").
func (st *scanState) accountWordBefore(p, lim int) bool {
	s := st.s
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
		for p > lim && (s[p-1] == ' ' || s[p-1] == '\t') {
			p--
		}
		e2 := p
		for p > lim && isAlnum(s[p-1]) {
			p--
		}
		return accountWords[string(normKey(buf[:0], s[p:e2]))]
	}
	return false
}
