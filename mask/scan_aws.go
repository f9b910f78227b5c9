package mask

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// ---- '.': AWS endpoint hostnames ------------------------------------------

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
	// labels before the suffix; those before an "s3" label name a bucket
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
	var firstLabel []byte
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

// nameReadable is true for values that are never masked as names (and so
// are never issued as pseudonyms of names): service words, regions,
// placeholders, version words.
func nameReadable(v []byte) bool {
	return arnReadable[string(v)] || readableHostLabel(v) || isPlaceholder(v) || versionWords[string(bytes.ToLower(v))]
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

// readableHostLabel keeps service names, regions and node numbers.
func readableHostLabel(l []byte) bool {
	if hostLabelsReadable[string(l)] || allDigits(l) && len(l) != 12 {
		return true
	}
	if isRegion(l) {
		return true
	}
	// short region codes (use1, apse2) and EKS shards (gr7, yl4, sk1)
	if len(l) >= 3 && len(l) <= 6 && isDigit(l[len(l)-1]) {
		k := 0
		for k < len(l)-1 && isLower(l[k]) {
			k++
		}
		if k == len(l)-1 && k >= 2 {
			return true
		}
	}
	for _, p := range []string{"s3-", "s3.", "dualstack", "vpce-", "compute-", "cluster-ro-"} {
		if bytes.HasPrefix(l, []byte(p)) && (p != "s3-" || isRegion(l[3:]) || string(l[3:]) == "website" || bytes.HasPrefix(l[3:], []byte("website"))) {
			return true
		}
	}
	return false
}

// isRegion recognizes us-east-1, eu-central-2, us-gov-west-1, cn-north-1,
// us-iso-east-1, us-isob-east-1, ap-southeast-4, il-central-1 …
func isRegion(l []byte) bool {
	parts := bytes.Split(l, []byte("-"))
	if len(parts) < 3 || len(parts) > 4 {
		return false
	}
	if len(parts[0]) != 2 || !allLower(parts[0]) {
		return false
	}
	last := parts[len(parts)-1]
	if len(last) == 0 || len(last) > 2 || !allDigits(last) {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if len(p) < 3 || !allLower(p) {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func allLower(b []byte) bool {
	for _, c := range b {
		if !isLower(c) {
			return false
		}
	}
	return len(b) > 0
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

// ---- ARNs -----------------------------------------------------------------

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
	s, n := st.s, st.n
	st.trig = a        // its spans are found again from the ARN's start
	fields := [5]int{} // start of partition, service, region, account, resource
	p := a + 4
	for f := 0; f < 4; f++ {
		fields[f] = p
		for p < n && p-fields[f] < 32 && (isLower(s[p]) || isDigit(s[p]) || s[p] == '-') {
			p++
		}
		if p == n {
			if !st.final {
				return st.more(a)
			}
			return n
		}
		if s[p] != ':' {
			return p
		}
		p++
	}
	fields[4] = p
	if !partitions[string(s[fields[0]:fields[1]-1])] {
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
	service := s[fields[1] : fields[2]-1]
	res := s[p:q]
	if string(service) == "s3" {
		// arn:aws:s3:::bucket/key — the bucket is masked, the key stays
		b := bytes.IndexByte(res, '/')
		if b < 0 {
			b = len(res)
		}
		if b > 0 && res[0] != '*' {
			st.emit(Span{Start: p, End: p + b, Kind: KindS3Bucket})
		}
		return q
	}
	// the resource type is the first segment when more follow
	r := p
	if t := bytes.IndexAny(res, "/:"); t > 0 {
		if allTypeChars(res[:t]) {
			r = p + t + 1
		}
	}
	for r < q {
		e := r
		for e < q && s[e] != '/' && s[e] != ':' {
			e++
		}
		st.arnSegment(r, e)
		r = e + 1
	}
	return q
}

func allTypeChars(b []byte) bool {
	for _, c := range b {
		if !(isLower(c) || isDigit(c) || c == '-' || c == '_') && !(isUpper(c) && len(b) > 1) {
			return false
		}
	}
	return len(b) > 0
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

func allHexLo(b []byte) bool {
	for _, c := range b {
		if !isHexLo(c) {
			return false
		}
	}
	return true
}

// ---- left-alone addresses -------------------------------------------------

// ipv4Class says which block an address belongs to; it decides how many
// leading bits a pseudonym keeps.
type ipv4Class uint8

const (
	v4LeftAlone ipv4Class = iota
	v4Private10
	v4Private172
	v4Private192
	v4Shared // 100.64.0.0/10 carrier-grade NAT
	v4Public
)

func classifyIPv4(a [4]byte) ipv4Class {
	switch {
	case a[0] == 0, a[0] == 127, a[0] >= 224,
		a[0] == 169 && a[1] == 254,
		a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2),
		a[0] == 198 && a[1] == 51 && a[2] == 100,
		a[0] == 203 && a[1] == 0 && a[2] == 113,
		a[0] == 198 && (a[1] == 18 || a[1] == 19):
		return v4LeftAlone
	case a[0] == 10:
		return v4Private10
	case a[0] == 172 && a[1]&0xf0 == 16:
		return v4Private172
	case a[0] == 192 && a[1] == 168:
		return v4Private192
	case a[0] == 100 && a[1]&0xc0 == 64:
		return v4Shared
	}
	return v4Public
}

var v4FixedBits = [...]int{v4Private10: 8, v4Private172: 12, v4Private192: 16, v4Shared: 10, v4Public: 0}

// ipv4LeftAlone: loopback, link-local, multicast, documentation and the
// like; also a CIDR block no narrower than its private block (10.0.0.0/8).
// A host address written with a prefix length (10.0.1.5/8) is a host.
func ipv4LeftAlone(a [4]byte, bits int) bool {
	c := classifyIPv4(a)
	if c == v4LeftAlone {
		return true
	}
	if !ipv4HostBitsZero(a, bits) {
		return false
	}
	return bits == 0 || (bits < 32 && bits <= v4FixedBits[c])
}

// ipv4HostBitsZero reports whether a, read as a block of prefix length
// bits, has no host bits set (10.0.1.0/24 does; 10.0.1.5/24 does not).
func ipv4HostBitsZero(a [4]byte, bits int) bool {
	return bits >= 32 || uint64(binary.BigEndian.Uint32(a[:]))<<bits&0xffffffff == 0
}

var ipv6Doc = netip.MustParsePrefix("2001:db8::/32")

func ipv6Maskable(a netip.Addr) bool {
	b := a.As16()
	global := b[0]&0xe0 == 0x20
	ula := b[0]&0xfe == 0xfc
	return (global || ula) && !ipv6Doc.Contains(a)
}
