package mask

import "bytes"

// URLs: the password of a connection string and the bucket of s3://.

// url handles scheme://user:password@host and s3://bucket.
func (st *scanState) url(i int) int {
	s, n := st.s, st.n
	st.via = byURL
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
