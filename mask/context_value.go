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
	p, ok := st.unwrapCall(trig, p)
	if !ok {
		return st.n
	}
	var start, end int
	if s[p] == '"' || s[p] == '\'' {
		start = p + 1
		end, ok = st.quotedValue(trig, start, s[p], k)
	} else if st.declared || terraformReference(s[p:]) {
		return p // a variable set from an expression, not a literal
	} else {
		start = p
		end, ok = st.bareValue(trig, p, k)
	}
	if !ok || end == start {
		return end
	}
	return st.emitValue(start, end, k)
}

// unwrapCall steps into a wrapper call around a literal, aws.String("…")
// or str('…'), at p. It returns where the value starts, or false when
// more input is needed (and the scan is stopped).
func (st *scanState) unwrapCall(trig, p int) (int, bool) {
	s, n := st.s, st.n
	if !isLower(s[p]) || st.declared {
		return p, true
	}
	q := p
	for q < n && q-p < 24 && (isWord(s[q]) || s[q] == '.') {
		q++
	}
	if q < n && s[q] == '(' && q+1 < n && (s[q+1] == '"' || s[q+1] == '\'') {
		return q + 1, true
	}
	if q+1 >= n && !st.final {
		st.more(trig)
		return 0, false
	}
	return p, true
}

// quotedValue reads a value that opened with quote just before p, up to
// its closing quote on the same line. A secret's own quote, escaped in the
// text (its escape is decoded here), is followed by more of it: "ab\"cd".
// It returns the end, or false (the scan goes on at the returned position)
// when there is no value.
func (st *scanState) quotedValue(trig, p int, quote byte, k Kind) (int, bool) {
	s, n := st.s, st.n
	lim := p + maxQuotedName
	if secretKind(k) {
		lim = p + maxSecretLen
	}
	secret := k == KindPassword || secretKind(k)
	q := p
	for ; q < n && q < lim; q++ {
		c := s[q]
		if c == '\n' || (c == '\\' && !secret) {
			break
		}
		if c != quote {
			continue
		}
		if secret && q+1 == n && !st.final {
			return st.more(trig), false
		}
		if !secret || q+1 >= n || !isWord(s[q+1]) {
			return q, true
		}
		if j := bytes.IndexByte(s[q+1:min(n, lim)], quote); j < 0 {
			if min(n, lim) == n && !st.final {
				return st.more(trig), false
			}
			return q, true
		}
	}
	if q == n && !st.final {
		return st.more(trig), false
	}
	return p, false
}

// bareValue reads an unquoted value at p. A password is everything up to
// a space or a quote, but for the next pair of a connection string or
// query (;Database=); other values are name and path bytes. It returns the
// end, or false (the scan goes on at the returned position) when there is
// no value.
func (st *scanState) bareValue(trig, p int, k Kind) (int, bool) {
	s, n := st.s, st.n
	q, lim := p, maxTokenLen
	if secretKind(k) {
		lim = maxSecretLen
	}
	for q < n && q-p < lim && valueByte(s[q]) {
		q++
	}
	if k == KindPassword && q < n && !(s[q] == '(' || s[q] == '[') {
		for q < n && q-p < lim && passwordByte(s[q]) && !nextPair(s, q) {
			q++
		}
	}
	if q == n && !st.final {
		return st.more(trig), false
	}
	if q < n && (s[q] == '(' || s[q] == '[') {
		return q, false // code: Username: u.Username(), bucket = hash[2:]
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
	return q, true
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
func (st *scanState) emitValue(a, b int, k Kind) int {
	v := st.s[a:b]
	var ok bool
	switch k {
	case KindAccountID:
		return a // read as a number by atDigit
	case KindSecretAccessKey, KindSessionToken, KindBedrockKey, KindAmzSignature, KindPassword:
		ok = st.secretShaped(v, k)
	default:
		ok = st.nameFits(v, k)
	}
	if !ok {
		return a
	}
	return st.emit(Span{Start: a, End: b, Kind: k})
}

// secretShaped checks a credential's value against its kind's alphabet
// and length; a password only needs to be no placeholder.
func (st *scanState) secretShaped(v []byte, k Kind) bool {
	switch k {
	case KindSecretAccessKey, KindSessionToken:
		return len(v) >= 16 && allB64(v) && !bytes.Contains(v, []byte("EXAMPLEKEY"))
	case KindBedrockKey:
		for _, c := range v {
			if !isB64(c) && c != '=' && c != '-' && c != '_' {
				return false
			}
		}
		return len(v) >= 16
	case KindAmzSignature:
		for _, c := range v {
			if !isHexLo(c) {
				return false
			}
		}
		return len(v) >= 32
	}
	// KindPassword
	return len(v) >= 4 && !isPlaceholder(v) && !bytes.Equal(v, st.keyText) && !passwordPlaceholders[string(bytes.ToLower(v))]
}

// nameFits checks a name or ID found by context. Values that hold other
// identifiers (an ARN as SecretId) are scanned as text instead, so their
// structure stays readable.
func (st *scanState) nameFits(v []byte, k Kind) bool {
	if len(v) == 0 || nameReadable(v) || !hasAlnum(v) || bytes.Equal(v, st.keyText) {
		return false
	}
	if st.shaped && (!nameShaped(v) || bytes.IndexByte(v, '-') < 0) {
		return false // ID: http2SettingEnablePush is code, ID: web-prod-42 a name
	}
	switch k {
	case KindKMSKey:
		return uuidShaped(v)
	case KindHostedZone:
		return hostedZoneShaped(v)
	case KindAPIGateway:
		return len(v) == 10 && allLowerAlnum(v)
	}
	if k == KindS3Bucket && (!bucketShaped(v) || (st.suffixKey && bytes.IndexByte(v, '-') < 0)) {
		return false
	}
	if bytes.HasPrefix(v, []byte("arn:")) || bytes.Contains(v, []byte("://")) || bytes.Contains(v, []byte("${")) ||
		bytes.Contains(v, []byte("{{")) {
		return false
	}
	// an ID or address on its own is found (and shaped) by its own detector
	sub := scanner{}
	spans, _ := sub.scan(v, 0, true, nil)
	return len(spans) == 0
}
