package mask

// Span is one identifier found in a piece of text.
type Span struct {
	Start, End int
	Kind       Kind
	// Keep is the number of leading bytes of the span that stay as they are
	// in the pseudonym ("AKIA", "i-", "sk-ant-api03-").
	Keep int
	// Dashed marks an IPv4 address written with dashes (ip-10-0-1-5).
	Dashed bool
	// Rule is the 1-based user rule that found the span, or 0.
	Rule int
	// via says how a built-in detector found it.
	via detector

	origin int // where the detector that found it started looking
	// quote, when not 0, wraps the replacement in quotes written for
	// literal level quote-1: a restored number that is no longer one
	quote uint8
}

const (
	// maxTokenLen bounds every span that consists of hold bytes only, so a
	// stream never holds back more than this much of an unbroken token.
	maxTokenLen = 4096
	// maxContextBack bounds how far a detector looks back for context; a
	// streaming caller keeps at least this much already-emitted text.
	maxContextBack = 320
	// maxQuotedName bounds a quoted name value (which may contain spaces).
	maxQuotedName = 256
	// maxPEM bounds a private key block.
	maxPEM = 64 << 10
	// maxSecretLen bounds a session token or secret read by its key or
	// prefix: STS documents no maximum, and one cut short would be sent
	maxSecretLen = 32 << 10
)

// secretKind says whether values of kind k are read up to maxSecretLen.
func secretKind(k Kind) bool {
	return k == KindSessionToken || k == KindSecretAccessKey || k == KindBedrockKey
}

// detector says how a span was found. With the kind it names the rule a
// finding reports: "account-id/arn", "s3-bucket/context".
type detector uint8

const (
	byShape   detector = iota // its own shape: a prefix, a length, an address
	byContext                 // a key, flag or word before it names it
	byProse                   // a noun before it in a sentence names it
	byARN                     // its place in an ARN
	byHost                    // its place in an AWS hostname or the path under one
	byURL                     // its place in a URL: a connection string's password, s3://bucket
	byPair                    // it follows an access key ID: the secret of the pair
	byLearned                 // the store holds it: found before, masked wherever it stands
)

var detectorNames = [...]string{
	byShape: "shape", byContext: "context", byProse: "prose", byARN: "arn",
	byHost: "host", byURL: "url", byPair: "pair", byLearned: "learned",
}

func (d detector) String() string { return detectorNames[d] }

// trigger marks the bytes at which some detector may start looking.
var trigger [256]bool

func init() {
	for _, c := range []byte("0123456789-:=._AIF/") {
		trigger[c] = true
	}
}

// scanner finds identifiers. It is safe for concurrent use.
type scanner struct {
	rules *ruleSet
}

type scanState struct {
	sc    *scanner
	s     []byte
	n     int
	final bool
	lo    int // no span may start before lo
	// [spanStart, spanEnd) is the last span (also from earlier chunks of a
	// stream): its text differs between the original and the masked text,
	// so no detector takes context from it.
	spanStart, spanEnd int
	hold               int
	stopped            bool
	spans              []Span
	key                []byte // scratch for normKey
	trig               int    // the trigger being handled
	via                detector
	// set by keyBefore: the key as written, and whether only its suffix matched
	keyText   []byte
	suffixKey bool
	// declared: the key is a variable declared in code (const bucket =
	// "…"), whose value counts only as a string literal; shaped: the
	// key holds a name only if it does not read as a word or number
	declared, shaped bool
}

// scan finds the spans in s[from:]; s[:from] is context that was already
// handled. Unless final, it also returns hold: the position from which the
// result could change once more input arrives; spans all end at or before
// hold, and the caller must keep s[hold:] and scan it again with more input.
func (sc *scanner) scan(s []byte, from int, final bool, spans []Span) ([]Span, int) {
	return sc.scanAfter(s, from, 0, 0, final, spans)
}

// scanAfter is scan for a stream whose last span ended at spanEnd.
func (sc *scanner) scanAfter(s []byte, from, spanStart, spanEnd int, final bool, spans []Span) ([]Span, int) {
	st := scanState{sc: sc, s: s, n: len(s), final: final, lo: from, spanStart: spanStart, spanEnd: spanEnd, hold: len(s), spans: spans[:0]}
	st.run(from)
	if !final {
		st.holdTrailingToken(from)
	}
	if sc.rules != nil {
		st.userRules(from)
	}
	return st.spans, st.hold
}

func (st *scanState) run(from int) {
	s, n := st.s, st.n
	for i := from; i < n && !st.stopped; {
		// most bytes trigger nothing: skip them four at a time
		for i+4 <= n {
			w := s[i : i+4 : i+4]
			if trigger[w[0]] || trigger[w[1]] || trigger[w[2]] || trigger[w[3]] {
				break
			}
			i += 4
		}
		if i >= n {
			break
		}
		c := s[i]
		if !trigger[c] {
			i++
			continue
		}
		var next int
		st.trig, st.via = i, byShape
		switch {
		case isDigit(c):
			next = st.atDigit(i)
		case c == '-':
			next = st.atDash(i)
		case c == ':':
			next = st.atColon(i)
		case c == '=':
			next = st.atEquals(i)
		case c == '.':
			next = st.atDot(i)
		case c == '_':
			next = st.atUnderscore(i)
		case c == '/':
			next = st.atSlash(i)
		default:
			next = st.atUpper(i)
		}
		if next <= i {
			next = i + 1
		}
		i = next
	}
}

// more records that the text from pos on cannot be decided without more
// input, and stops the scan.
func (st *scanState) more(pos int) int {
	if pos < st.hold {
		st.hold = pos
	}
	st.stopped = true
	return st.n
}

// emit records a span unless it is switched off or allowed; it returns the
// position to continue at.
func (st *scanState) emit(sp Span) int {
	if sp.Start < st.lo || sp.End <= sp.Start {
		return sp.End
	}
	if r := st.sc.rules; r != nil {
		if r.disabled[sp.Kind] {
			return sp.End
		}
		if len(r.allow) > 0 {
			v := string(st.s[sp.Start:sp.End])
			if sp.Dashed {
				v = dashedToDotted(v)
			}
			if r.allow[v] {
				return sp.End
			}
		}
	}
	s := st.s
	if anchorOf(string(s[sp.Start:sp.End])) < 0 {
		// a value this short reads as a word, and so would its
		// pseudonym: it could not be told apart when restored
		return sp.End
	}
	if (sp.End < st.n && isWord(s[sp.End-1]) && isWord(s[sp.End])) ||
		(isWord(s[sp.Start]) && !wordBoundaryBefore(s, sp.Start)) {
		// glued to a word: not a token of its own (and its pseudonym
		// would not be found again as one)
		return sp.End
	}
	sp.origin = min(st.trig, sp.Start)
	sp.via = st.via
	st.spans = append(st.spans, sp)
	st.lo = sp.End
	st.spanStart, st.spanEnd = sp.Start, sp.End
	return sp.End
}

// inSpan reports whether s[a:b] overlaps an identifier found before: its
// text differs between the original and the masked text, so it is never
// read as context.
func (st *scanState) inSpan(a, b int) bool {
	if a < st.spanEnd && b > st.spanStart {
		return true
	}
	for k := len(st.spans) - 1; k >= 0; k-- {
		sp := st.spans[k]
		if sp.End <= a {
			break
		}
		if sp.Start < b {
			return true
		}
	}
	return false
}

// holdTrailingToken keeps back the final run of bytes that could still
// grow into a span, and any span that crosses it.
func (st *scanState) holdTrailingToken(from int) {
	t := st.n
	for t > from && class[st.s[t-1]]&cHold != 0 && st.n-t < maxTokenLen {
		t--
	}
	if t < st.hold {
		st.hold = t
	}
	// a span that crosses the hold point is dropped and looked for again
	// from where its detector started, with the other spans it found
	for k := len(st.spans) - 1; k >= 0; k-- {
		sp := st.spans[k]
		if sp.End <= st.hold {
			break
		}
		if sp.origin < st.hold {
			st.hold = sp.origin
		}
		st.spans = st.spans[:k]
	}
}
