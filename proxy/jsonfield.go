package proxy

import "bytes"

// smallInt parses a small non-negative integer, or returns -1.
func smallInt(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// stringContent returns the content range of a string value at data[a:z].
func stringContent(data []byte, a, z int) (int, int, bool) {
	if z-a < 2 || data[a] != '"' || data[z-1] != '"' {
		return 0, 0, false
	}
	return a + 1, z - 1, true
}

// stringMember returns the content range of the string member key of the
// object at data[p:].
func stringMember(data []byte, p int, key string) (int, int, bool) {
	a, z, found := 0, 0, false
	members(data, p, func(k []byte, va, vz int) bool {
		if string(k) == key {
			a, z, found = va, vz, true
		}
		return !found
	})
	if !found {
		return 0, 0, false
	}
	return stringContent(data, a, z)
}

// members calls fn with the raw key and the value range of each member of
// the object at data[p:], in order, until fn returns false. It reports
// false if the object is malformed before that.
func members(data []byte, p int, fn func(key []byte, a, z int) bool) bool {
	p = skipWS(data, p)
	if p >= len(data) || data[p] != '{' {
		return false
	}
	p = skipWS(data, p+1)
	for p < len(data) && data[p] == '"' {
		ks, ke, ok := stringRange(data, p)
		if !ok {
			return false
		}
		p = skipWS(data, ke+1)
		if p >= len(data) || data[p] != ':' {
			return false
		}
		p = skipWS(data, p+1)
		e := skipValue(data, p)
		if e <= p {
			return false
		}
		if !fn(data[ks:ke], p, e) {
			return true
		}
		p = skipWS(data, e)
		if p < len(data) && data[p] == ',' {
			p = skipWS(data, p+1)
		}
	}
	return true
}

func skipWS(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// stringRange returns the content range of the string starting at b[p].
func stringRange(b []byte, p int) (int, int, bool) {
	for q := p + 1; q < len(b); q++ {
		i := bytes.IndexByte(b[q:], '"')
		if i < 0 {
			break
		}
		q += i
		// the quote ends the string unless an odd run of backslashes
		// escapes it
		bs := 0
		for k := q - 1; k > p && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return p + 1, q, true
		}
	}
	return 0, 0, false
}

// skipValue returns the position after the value at p, or -1.
func skipValue(b []byte, p int) int {
	if p >= len(b) {
		return -1
	}
	switch b[p] {
	case '"':
		_, e, ok := stringRange(b, p)
		if !ok {
			return -1
		}
		return e + 1
	case '{', '[':
		depth := 0
		for q := p; q < len(b); q++ {
			switch b[q] {
			case '"':
				_, e, ok := stringRange(b, q)
				if !ok {
					return -1
				}
				q = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return q + 1
				}
			}
		}
		return -1
	}
	q := p
	for q < len(b) && b[q] != ',' && b[q] != '}' && b[q] != ']' && b[q] != ' ' && b[q] != '\n' {
		q++
	}
	return q
}
