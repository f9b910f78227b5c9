package mask

import "bytes"

// AWS endpoint hostnames and the paths under them: the customer labels of
// RDS, ELB, CloudFront, … hosts, S3 and SQS URLs, ECR image paths, log groups.

var (
	hostSuffixesA     = []string{"amazonaws.com.cn", "amazonaws.com", "amazoncognito.com", "awsapprunner.com", "amplifyapp.com"}
	hostSuffixesOther = []string{"on.aws", "cloudfront.net", "elasticbeanstalk.com"}
)

func (st *scanState) atDot(i int) int {
	s, n := st.s, st.n
	if i+1 >= n {
		if !st.final {
			return st.more(st.hostStart(i))
		}
		return n
	}
	var cands []string
	switch s[i+1] {
	case 'a':
		cands = hostSuffixesA
	case 'o', 'c', 'e':
		cands = hostSuffixesOther
	default:
		return i + 1
	}
	var suffix string
	for _, sfx := range cands {
		if hasPrefixAt(s, i+1, sfx) {
			suffix = sfx
			break
		}
		if !st.final && prefixMayContinue(s, i+1, sfx) {
			return st.more(st.hostStart(i))
		}
	}
	if suffix == "" {
		return i + 1
	}
	end := i + 1 + len(suffix)
	if end < n && (isAlnum(s[end]) || s[end] == '-' || s[end] == '_' || (s[end] == '.' && end+1 < n && isAlnum(s[end+1]))) {
		return end
	}
	if end == n && !st.final {
		return st.more(st.hostStart(i))
	}
	a := st.hostStart(i)
	if a < i && !wordBoundaryBefore(s, a) && s[a-1] != '.' {
		return end
	}
	st.trig = a // the path's spans are found again from the host's start
	st.via = byHost
	firstLabel := st.hostLabels(a, i)
	// an ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>
	if end < n && s[end] == '/' && bytes.Contains(s[max(a-1, 0):i+1], []byte("dkr.ecr.")) {
		return st.ecrPath(end)
	}
	// path-style S3 and SQS URLs, when the service label was left readable
	if end < n && s[end] == '/' && firstLabel != nil && readableHostLabel(firstLabel) {
		return st.hostPath(end, firstLabel)
	}
	return end
}

// hostLabels masks the customer labels of the host s[a:i] (i is the
// '.' before the AWS suffix): labels before an "s3" label name a bucket,
// the others go to hostLabel. It returns the first label.
func (st *scanState) hostLabels(a, i int) (firstLabel []byte) {
	s := st.s
	bucketEnd := a
	for p := a; p < i; {
		q := p
		for q < i && s[q] != '.' {
			q++
		}
		if l := s[p:q]; string(l) == "s3" || bytes.HasPrefix(l, []byte("s3-")) {
			bucketEnd = p
			break
		}
		p = q + 1
	}
	for p := a; p < i; {
		q := p
		for q < i && s[q] != '.' {
			q++
		}
		label := s[p:q]
		if firstLabel == nil {
			firstLabel = label
		}
		if p < bucketEnd {
			st.emit(Span{Start: p, End: bucketEnd - 1, Kind: KindS3Bucket})
			p = bucketEnd
			continue
		}
		st.hostLabel(p, q, label)
		p = q + 1
	}
	return firstLabel
}

// ecrPath masks the repository name after an ECR registry host; a tag or
// digest after ':' or '@' stays.
func (st *scanState) ecrPath(slash int) int {
	s, n := st.s, st.n
	p := slash + 1
	for {
		q := p
		for q < n && q-p < 256 && (isLower(s[q]) || isDigit(s[q]) || s[q] == '-' || s[q] == '_' || s[q] == '.') {
			q++
		}
		if q == n && !st.final {
			return st.more(st.trig)
		}
		e := q
		for e > p && s[e-1] == '.' {
			e--
		}
		if e > p && !nameReadable(s[p:e]) {
			st.emit(Span{Start: p, End: e, Kind: KindResourceName})
		}
		if q < n && s[q] == '/' {
			p = q + 1
			continue
		}
		return q
	}
}

// atSlash finds the names in the log groups of AWS services:
// /aws/lambda/orders-api, /aws/rds/instance/orders-db/postgresql.
func (st *scanState) atSlash(i int) int {
	s, n := st.s, st.n
	if !hasPrefixAt(s, i, "/aws/") {
		if !st.final && prefixMayContinue(s, i, "/aws/") {
			return st.more(i)
		}
		return i + 1
	}
	if i > 0 && (isWord(s[i-1]) || s[i-1] == '/' || s[i-1] == '.' || s[i-1] == '-') {
		return i + 1 // a path inside a URL or a longer path
	}
	q := i + len("/aws/")
	for q < n && (isLower(s[q]) || s[q] == '-') {
		q++
	}
	if q == n && !st.final {
		return st.more(i)
	}
	if q == i+len("/aws/") || q >= n || s[q] != '/' {
		return q
	}
	p := q + 1
	for {
		q := p
		for q < n && q-p < 512 && (isWord(s[q]) || s[q] == '-' || s[q] == '.' || s[q] == '#' || s[q] == '$') {
			q++
		}
		if q == n && !st.final {
			return st.more(i)
		}
		e := q
		for e > p && s[e-1] == '.' {
			e--
		}
		if seg := s[p:e]; e > p && !nameReadable(seg) && !logWords[string(seg)] && !allDigits(seg) {
			st.emit(Span{Start: p, End: e, Kind: KindLogGroup})
		}
		if q < n && s[q] == '/' {
			p = q + 1
			continue
		}
		return q
	}
}

// logWords are the parts of service log group paths that name a kind of
// log, not a resource.
var logWords = map[string]bool{
	"postgresql": true, "mysql": true, "error": true, "audit": true, "general": true, "slowquery": true,
	"upgrade": true, "cluster": true, "instance": true, "proxy": true, "application": true,
	"api-gateway": true, "execution": true, "access": true, "flow-logs": true,
}

// hostStart walks back over hostname bytes from the dot at i.
func (st *scanState) hostStart(i int) int {
	s := st.s
	a := i
	for a > st.lo && i-a < 253 && (isAlnum(s[a-1]) || s[a-1] == '-' || s[a-1] == '.') && !escapeEndsAt(s, a) {
		a--
	}
	for a < i && (s[a] == '.' || s[a] == '-') {
		a++
	}
	return a
}

func (st *scanState) hostLabel(p, q int, label []byte) {
	if len(label) == 0 || nameReadable(label) {
		return
	}
	if bytes.HasPrefix(label, []byte("internal-")) && len(label) > len("internal-") {
		// an internal load balancer's name keeps saying so
		st.emit(Span{Start: p, End: q, Kind: KindAWSHostname, Keep: len("internal-")})
		return
	}
	if len(label) == 12 && allDigits(label) {
		if !leftAloneAccounts[string(label)] {
			st.emit(Span{Start: p, End: q, Kind: KindAccountID})
		}
		return
	}
	st.emit(Span{Start: p, End: q, Kind: KindAWSHostname})
}

// hostPath handles path-style S3 URLs (s3.amazonaws.com/bucket/key) and
// SQS queue URLs (sqs.<region>.amazonaws.com/123456789012/queue).
func (st *scanState) hostPath(slash int, firstLabel []byte) int {
	s, n := st.s, st.n
	seg := func(p int) (int, bool) {
		q := p
		for q < n && q-p < 256 && (isAlnum(s[q]) || s[q] == '-' || s[q] == '_' || s[q] == '.') {
			q++
		}
		if q == n && !st.final {
			st.more(p)
			return q, false
		}
		return q, q > p
	}
	switch {
	case string(firstLabel) == "s3" || bytes.HasPrefix(firstLabel, []byte("s3-")):
		q, ok := seg(slash + 1)
		if !ok {
			return q
		}
		for q > slash+1 && s[q-1] == '.' {
			q--
		}
		if !bucketShaped(s[slash+1 : q]) {
			return q
		}
		return st.emit(Span{Start: slash + 1, End: q, Kind: KindS3Bucket})
	case string(firstLabel) == "sqs" || string(firstLabel) == "queue":
		q, ok := seg(slash + 1)
		if !ok {
			return q
		}
		if q-slash-1 == 12 && allDigits(s[slash+1:q]) {
			if !leftAloneAccounts[string(s[slash+1:q])] {
				st.emit(Span{Start: slash + 1, End: q, Kind: KindAccountID})
			}
			if q < n && s[q] == '/' {
				r, ok := seg(q + 1)
				if ok {
					return st.emit(Span{Start: q + 1, End: r, Kind: KindResourceName})
				}
				return r
			}
		}
		return q
	}
	return slash
}
