package proxy

// fieldRange finds the string at the given path of object keys in a JSON
// document and returns the range of its raw content (between the quotes).
// It reads only as much as it needs and does not unescape.
func fieldRange(data []byte, path ...string) (int, int, bool) {
	return valueRange(data, true, path...)
}

// stringField returns the raw content of a string field, or "".
func stringField(data []byte, path ...string) string {
	a, z, ok := fieldRange(data, path...)
	if !ok {
		return ""
	}
	return string(data[a:z])
}

// intField returns a small non-negative integer field, or -1.
func intField(data []byte, key string) int {
	a, z, ok := valueRange(data, false, key)
	if !ok || z-a > 9 || z == a {
		return -1
	}
	v := 0
	for _, c := range data[a:z] {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// valueRange finds the value at path; for a string (wantString) the range
// of its content, otherwise the range of the raw value.
func valueRange(data []byte, wantString bool, path ...string) (int, int, bool) {
	p := skipWS(data, 0)
	for depth, key := range path {
		if p >= len(data) || data[p] != '{' {
			return 0, 0, false
		}
		p = skipWS(data, p+1)
		found := false
		for p < len(data) && data[p] == '"' {
			ks, ke, ok := stringRange(data, p)
			if !ok {
				return 0, 0, false
			}
			p = skipWS(data, ke+1)
			if p >= len(data) || data[p] != ':' {
				return 0, 0, false
			}
			p = skipWS(data, p+1)
			if string(data[ks:ke]) == key {
				found = true
				break
			}
			if p = skipValue(data, p); p < 0 {
				return 0, 0, false
			}
			p = skipWS(data, p)
			if p < len(data) && data[p] == ',' {
				p = skipWS(data, p+1)
			}
		}
		if !found {
			return 0, 0, false
		}
		if depth == len(path)-1 {
			if !wantString {
				e := skipValue(data, p)
				return p, e, e > p
			}
			if p >= len(data) || data[p] != '"' {
				return 0, 0, false
			}
			s, e, ok := stringRange(data, p)
			return s, e, ok
		}
	}
	return 0, 0, false
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
		switch b[q] {
		case '\\':
			q++
		case '"':
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
