package mask

import "bytes"

// Reading the value after a key or flag, and deciding whether it is one
// of the key's kind.

// contextValue reads the value after a key or flag (the separator ends at
// j) and emits it as kind k if it fits.
func (st *scanState) contextValue(trig, j int, k Kind) int {
	s, n := st.s, st.n
	st.via = byContext
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
