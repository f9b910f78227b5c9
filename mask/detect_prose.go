package mask

import "bytes"

// Names in prose, named by the noun before them ("the bucket acme-logs").

// proseName finds a resource's name in prose, named by the noun before
// it: "the bucket acme-logs-prod", "RDS instance orders-db-2", "table
// ledger_2024", "log group app-audit", "Glue job nightly-etl". The name
// must read as one (a letter and a digit, '-' or '_'); i is a '-' or '_'
// inside it.
func (st *scanState) proseName(i int) int {
	s, n := st.s, st.n
	st.via = byProse
	a := i
	for a > st.lo && i-a < 64 && nameByte(s[a-1]) {
		a--
	}
	if a < i && bytes.IndexByte(s[max(a-6, 0):i], '\\') >= 0 {
		// an escape may end inside the name: it starts after it
		for a = i; a > st.lo && i-a < 64 && nameByte(s[a-1]) && !escapeEndsAt(s, a); a-- {
		}
	}
	if a < 2 || s[a-1] != ' ' {
		return i + 1
	}
	k, ok := st.proseNoun(a - 1)
	if !ok {
		return i + 1
	}
	b := i + 1
	for b < n && b-a < 64 && nameByte(s[b]) {
		b++
	}
	if b == n && !st.final {
		return st.more(a)
	}
	for b > i && (s[b-1] == '.' || s[b-1] == '-' || s[b-1] == '_') {
		b-- // a sentence's period, a trailing dash
	}
	v := s[a:b]
	if k == KindKMSKey {
		if !uuidShaped(v) {
			return i + 1
		}
		return st.emit(Span{Start: a, End: b, Kind: k})
	}
	if b-a < minToken || (b < n && isWord(s[b])) || !nameShaped(v) || nameReadable(v) {
		return i + 1
	}
	if k == KindS3Bucket {
		if !bucketShaped(v) || bytes.IndexByte(v, '-') < 0 {
			return i + 1
		}
	} else if bytes.IndexByte(v, '.') >= 0 {
		return i + 1 // an instance class (db.r5.large), a file name
	}
	// an ID or address on its own is found by its own detector
	sub := scanner{}
	if spans, _ := sub.scan(v, 0, true, nil); len(spans) > 0 {
		return i + 1
	}
	return st.emit(Span{Start: a, End: b, Kind: k})
}

func nameByte(c byte) bool { return isWord(c) || c == '-' || c == '.' }

// proseNouns are the words that, right before a name in prose, say what
// it names.
var proseNouns = map[string]Kind{
	"bucket": KindS3Bucket, "table": KindResourceName, "cluster": KindResourceName,
	"instance": KindResourceName, "database": KindResourceName, "function": KindResourceName,
	"queue": KindResourceName, "topic": KindResourceName, "stream": KindResourceName,
	"role": KindResourceName, "repository": KindResourceName, "repo": KindResourceName,
	"job": KindResourceName, "stack": KindResourceName, "secret": KindResourceName,
	"parameter": KindResourceName, "distribution": KindResourceName, "service": KindResourceName,
	"pipeline": KindResourceName, "workgroup": KindResourceName, "crawler": KindResourceName,
	"vault": KindResourceName, "keypair": KindResourceName, "pair": KindResourceName,
	"group": KindResourceName, "balancer": KindResourceName, "machine": KindResourceName,
	"user": KindResourceName, "nodegroup": KindResourceName,
	"key": KindKMSKey, // a KMS key ID only (KMS key 1234abcd-…)
}

// proseNoun reads the word that ends at e (a space follows it) and says
// whether it names a resource, and which kind: "log group" is a log group.
func (st *scanState) proseNoun(e int) (Kind, bool) {
	s := st.s
	w := e
	for w > 0 && e-w < 16 && isAlnum(s[w-1]) {
		w--
	}
	if w == e || (w > 0 && isWord(s[w-1])) || st.inSpan(w, e) {
		return 0, false
	}
	var buf [16]byte
	k, ok := proseNouns[string(normKey(buf[:0], s[w:e]))]
	if !ok {
		return 0, false
	}
	if k == KindResourceName && string(normKey(buf[:0], s[w:e])) == "group" && w >= 4 {
		if q := s[w-4 : w-1]; s[w-1] == ' ' && (string(q) == "log" || string(q) == "Log") {
			return KindLogGroup, true
		}
	}
	return k, true
}
