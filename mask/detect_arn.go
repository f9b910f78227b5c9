package mask

import "bytes"

// ARNs: the account and the resource names inside arn:partition:service:…

var partitions = map[string]bool{
	"aws": true, "aws-cn": true, "aws-us-gov": true, "aws-iso": true, "aws-iso-b": true,
	"aws-iso-e": true, "aws-iso-f": true, "aws-eusc": true,
}

// arnByte reports whether c can be part of an ARN's resource.
func arnByte(c byte) bool {
	return isWord(c) || c == '-' || c == '/' || c == ':' || c == '.' || c == '+' || c == '=' ||
		c == '@' || c == '*' || c == '$' || c == '#' || c == '{' || c == '}' || c == '~' || c == '!' || c == '%'
}

// arn parses arn:partition:service:region:account:resource at a. The
// account and the resource's names are masked; partition, service, region
// and resource type stay readable.
func (st *scanState) arn(a int) int {
	st.via = byARN
	s, n := st.s, st.n
	st.trig = a // its spans are found again from the ARN's start
	fields, p, ok := st.arnFields(a)
	if !ok {
		return p
	}
	acct := s[fields[3] : fields[4]-1]
	q := p
	for q < n && q-p < 1024 && arnByte(s[q]) {
		q++
	}
	if q == n && !st.final {
		return st.more(a)
	}
	for q > p && (s[q-1] == '.' || s[q-1] == ':') {
		q--
	}
	if len(acct) > 0 && string(acct) != "aws" {
		if len(acct) != 12 || !allDigits(acct) {
			return q
		}
		if !leftAloneAccounts[string(acct)] {
			st.emit(Span{Start: fields[3], End: fields[4] - 1, Kind: KindAccountID})
		}
	}
	if string(acct) == "aws" || q == p {
		// AWS-managed resources (arn:aws:iam::aws:policy/…) are public
		return q
	}
	st.arnResource(p, q, s[fields[1]:fields[2]-1])
	return q
}

// arnFields reads the four fields after "arn:" at a: it returns where
// partition, service, region, account and resource start, and true when
// they are there and the partition is known; else where to go on (the
// scan is stopped when more input is needed).
func (st *scanState) arnFields(a int) (fields [5]int, p int, ok bool) {
	s, n := st.s, st.n
	p = a + 4
	for f := 0; f < 4; f++ {
		fields[f] = p
		for p < n && p-fields[f] < 32 && (isLower(s[p]) || isDigit(s[p]) || s[p] == '-') {
			p++
		}
		if p == n {
			if !st.final {
				return fields, st.more(a), false
			}
			return fields, n, false
		}
		if s[p] != ':' {
			return fields, p, false
		}
		p++
	}
	fields[4] = p
	return fields, p, partitions[string(s[fields[0]:fields[1]-1])]
}

// arnResource masks the resource part s[p:q] of an ARN of service: an S3
// bucket (the key stays), or each name segment after the resource type.
func (st *scanState) arnResource(p, q int, service []byte) {
	s := st.s
	res := s[p:q]
	if string(service) == "s3" {
		// arn:aws:s3:::bucket/key
		b := bytes.IndexByte(res, '/')
		if b < 0 {
			b = len(res)
		}
		if b > 0 && res[0] != '*' {
			st.emit(Span{Start: p, End: p + b, Kind: KindS3Bucket})
		}
		return
	}
	// the resource type is the first segment when more follow
	r := p
	if t := bytes.IndexAny(res, "/:"); t > 0 && allTypeChars(res[:t]) {
		r = p + t + 1
	}
	for r < q {
		e := r
		for e < q && s[e] != '/' && s[e] != ':' {
			e++
		}
		st.arnSegment(r, e)
		r = e + 1
	}
}

func (st *scanState) arnSegment(a, b int) {
	seg := st.s[a:b]
	if len(seg) == 0 || nameReadable(seg) || allDigits(seg) && len(seg) != 12 || !hasAlnum(seg) {
		return
	}
	if uuidShaped(seg) {
		st.emit(Span{Start: a, End: b, Kind: KindKMSKey})
		return
	}
	// an ID inside an ARN keeps the ID's shape
	if d := bytes.LastIndexByte(seg, '-'); d > 0 {
		if k, ok := resourcePrefixes[string(seg[:d])]; ok {
			h := seg[d+1:]
			if len(h) >= 8 && len(h) <= 17 && allHexLo(h) {
				st.emit(Span{Start: a, End: b, Kind: k, Keep: d + 1})
				return
			}
		}
	}
	st.emit(Span{Start: a, End: b, Kind: KindARNResource})
}
