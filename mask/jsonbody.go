package mask

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
)

// Body names the shape of an API request body.
type Body uint8

const (
	// BodyMessages is a /v1/messages or /v1/messages/count_tokens request.
	BodyMessages Body = iota
	// BodyBatch is a /v1/messages/batches request: {"requests": [{"custom_id", "params"}]}.
	BodyBatch
	// BodyAny masks every string value.
	BodyAny
	// BodyResponse is a Messages API response (a message object). Used with
	// UnmaskJSON; thinking blocks stay as they are.
	BodyResponse
	// BodyBlock is a single content block.
	BodyBlock
	// BodyEvent is the data of a streamed Messages API event. The text and
	// partial_json of deltas are skipped: they span events and are
	// unmasked by a Stream per content block.
	BodyEvent
	// BodyBatchResult is one line of a message batch's results:
	// {"custom_id", "result": {"type", "message"}}. Used with UnmaskJSON;
	// thinking blocks stay as they are.
	BodyBatchResult
)

// ErrInvalidJSON is returned for a body that is not valid JSON.
var ErrInvalidJSON = errors.New("request body is not valid JSON")

// SyntaxError locates a JSON syntax error without quoting the input.
type SyntaxError struct {
	Offset int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v (at byte %d)", ErrInvalidJSON, e.Offset)
}
func (e *SyntaxError) Unwrap() error { return ErrInvalidJSON }

// node is a position in the Messages API request schema.
type node uint8

const (
	nAny          node = iota // content: every string is masked
	nSkip                     // structural: not masked, but refused if it holds a value to mask
	nOpaque                   // thinking blocks, base64 images and PDFs: passed as they are
	nName                     // a tool's name: refused only for what a detector finds in it
	nB64Text                  // base64 data of a text document: refused if its text holds a value
	nOpaqueString             // passed as it is if a string (base64 data, encrypted content)
	nRoot
	nToolChoice
	nAssistantMessage
	nAssistantContent // an assistant turn's blocks: the only place a thinking block is passed whole
	nAssistantBlock
	nSearchToolResult // a web_search_tool_result block
	nSearchResults    // its content
	nSearchResultItem // one of them
	nSearchResult     // a web_search_result: its encrypted_content is the API's own
	nToolUse          // a tool call block: its name is a tool's name
	nMessages
	nMessage
	nContent
	nBlock
	nSource     // a document or image source whose data is base64
	nTextSource // any other source: its data is text
	nB64Source  // a base64 source of a text document
	nTools
	nTool
	nCitations
	nCitation
	nBatchRoot
	nBatchRequests
	nBatchRequest
	nBatchResult
	nResult
	nResponse
	nEvent
	nDelta
)

// child returns the schema position of member key in an object at n. Only
// named structural fields are exempt; anything new is content.
func child(n node, key []byte) node {
	k := string(key)
	switch n {
	case nSearchResult:
		if k == "encrypted_content" {
			return nOpaqueString // the API's own encrypted page content
		}
		n = nBlock
	case nSearchToolResult:
		if k == "content" {
			return nSearchResults
		}
		n = nBlock
	case nAssistantMessage:
		if k == "content" {
			return nAssistantContent
		}
		n = nMessage
	case nToolUse:
		if k == "name" {
			return nName
		}
		n = nBlock
	}
	switch n {
	case nOpaque:
		return nOpaque
	case nSkip, nName, nOpaqueString:
		return nSkip
	case nToolChoice:
		if k == "name" {
			return nName
		}
		return nSkip
	case nRoot:
		switch k {
		case "model", "stream", "max_tokens", "temperature", "top_p", "top_k",
			"thinking", "service_tier", "container", "anthropic_version", "inference_geo":
			return nSkip
		case "tool_choice":
			return nToolChoice
		case "messages":
			return nMessages
		case "system":
			return nContent
		case "tools":
			return nTools
		}
	case nMessage:
		switch k {
		case "role":
			return nSkip
		case "content":
			return nContent
		}
	case nBlock:
		switch k {
		case "type", "id", "tool_use_id", "name", "media_type", "cache_control",
			"file_id", "server_name", "is_error",
			// opaque only in a thinking block (which is passed whole) or a
			// search result; elsewhere they are read like any other field
			"signature", "encrypted_content", "encrypted_index":
			return nSkip
		case "citations":
			return nCitations
		case "source":
			return nSource
		case "content":
			return nContent
		}
	case nSource, nTextSource, nB64Source:
		switch k {
		case "type", "media_type", "file_id":
			return nSkip
		case "data":
			if n == nSource {
				return nOpaqueString
			}
			if n == nB64Source {
				return nB64Text
			}
		case "content":
			return nContent
		}
	case nTool:
		switch k {
		case "type", "cache_control":
			return nSkip
		case "name":
			return nName
		}
	case nCitation:
		switch k {
		case "type", "file_id", "document_index", "start_char_index", "end_char_index", "encrypted_index":
			return nSkip
		}
	case nBatchRoot:
		if k == "requests" {
			return nBatchRequests
		}
	case nEvent:
		switch k {
		case "type", "index", "usage":
			return nSkip
		case "message":
			return nResponse
		case "content_block":
			return nAssistantBlock
		case "delta":
			return nDelta
		}
	case nDelta:
		switch k {
		case "type", "text", "partial_json", "stop_reason", "stop_sequence":
			return nSkip
		case "thinking", "signature":
			return nOpaque
		case "citation":
			return nCitation
		}
	case nResponse:
		switch k {
		case "id", "type", "role", "model", "stop_reason", "stop_sequence", "container", "usage":
			return nSkip
		case "content":
			return nAssistantContent
		}
	case nBatchResult:
		switch k {
		case "custom_id":
			return nSkip
		case "result":
			return nResult
		}
	case nResult:
		switch k {
		case "type":
			return nSkip
		case "message":
			return nResponse
		}
	case nBatchRequest:
		switch k {
		case "custom_id":
			return nSkip
		case "params":
			return nRoot
		}
	}
	return nAny
}

// element returns the schema position of an array element at n.
func element(n node) node {
	switch n {
	case nOpaque:
		return nOpaque
	case nSkip, nName, nOpaqueString, nToolChoice:
		return nSkip
	case nMessages:
		return nMessage
	case nContent:
		return nBlock
	case nAssistantContent:
		return nAssistantBlock
	case nSearchResults:
		return nSearchResultItem
	case nTools:
		return nTool
	case nCitations:
		return nCitation
	case nBatchRequests:
		return nBatchRequest
	}
	return nAny
}

const maxDepth = 512

// maxBlockDepth bounds content blocks inside content blocks (a tool result
// holding a document holding blocks is three): working out a block's type
// reads the whole block, so deeper nesting would cost the square of the
// body's size.
const maxBlockDepth = 8

// ErrTooDeep is returned for a body whose content blocks nest deeper than
// any request the API takes.
var ErrTooDeep = errors.New("content blocks nested too deeply")

// bodyWalker validates an API body (strict JSON, no duplicate keys) and
// records which raw byte ranges hold content that may change: the
// content of string values outside structural fields and thinking
// blocks, and, inside content objects (tool inputs), their keys and
// numbers.
type bodyWalker struct {
	body   []byte
	ranges []rawRange
	// structural are the string values, with their quotes, of fields that
	// are not masked (ids, names, the model, custom_id): a request is
	// refused if one holds a value to mask
	structural []rawRange
	names      []rawRange // tool names: only detectors count there
	b64        []rawRange // base64 data of text documents
	keys       []string   // scratch: the keys of the object being read
	scratch    []byte
	blocks     int // content blocks open around the walker
	v          view
	ed         edits
}

// rawRange is a range of content in a raw body.
type rawRange struct {
	a, b   int
	number bool
}

// ErrDuplicateKey is returned for a body with a key twice in one object:
// the upstream reads the last one, so the body would not mean to it what
// it means here.
var ErrDuplicateKey = errors.New("request body has a duplicate key")

func rootNode(kind Body) node {
	switch kind {
	case BodyBatch:
		return nBatchRoot
	case BodyAny:
		return nAny
	case BodyResponse:
		return nResponse
	case BodyBlock:
		return nBlock
	case BodyEvent:
		return nEvent
	case BodyBatchResult:
		return nBatchResult
	}
	return nRoot
}

// walk validates body and collects its content ranges.
func (w *bodyWalker) walk(body []byte, kind Body) error {
	w.body = body
	w.ranges = w.ranges[:0]
	w.structural = w.structural[:0]
	w.blocks = 0
	w.names = w.names[:0]
	w.b64 = w.b64[:0]
	p, err := w.value(w.ws(0), rootNode(kind), 0)
	if err != nil {
		return err
	}
	if p = w.ws(p); p != len(body) {
		return &SyntaxError{Offset: p}
	}
	return nil
}

// keep reports whether the view's d[a:b] lies inside one content range.
func (w *bodyWalker) keep(a, b int) bool {
	ra, _ := w.v.rawRange(a)
	_, rb := w.v.rawRange(b)
	return w.rangeOf(ra, rb) >= 0
}

// rangeOf returns the index of the content range holding raw[a:b], or -1.
func (w *bodyWalker) rangeOf(a, b int) int {
	lo, hi := 0, len(w.ranges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if w.ranges[m].b < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(w.ranges) && w.ranges[lo].a <= a && b <= w.ranges[lo].b {
		return lo
	}
	return -1
}

// ErrNumber is returned when a number in a tool input would not stay a
// valid JSON number with its pseudonym or original in place.
var ErrNumber = errors.New("a number in the body cannot take its replacement")

// checkNumbers refuses a replacement that would give a number a leading
// zero.
func (w *bodyWalker) checkNumbers(ed *edits) error {
	for i, sp := range ed.spans {
		if ra, _, n, ok := w.leadingZeroNumber(sp, ed.repl[i]); ok && (ra == n.a || w.body[ra-1] == '-') {
			return ErrNumber
		}
	}
	return nil
}

// restoreNumbers handles originals that cannot stand as a number where
// the model wrote their pseudonym as one (an account ID with a leading
// zero, "account_id": 123456789012): a whole number becomes the original
// as a string, so the answer stays JSON and the tool gets the real value;
// a part of a number (a sign or a fraction beside it) keeps the pseudonym.
func (w *bodyWalker) restoreNumbers(ed *edits) {
	for i, sp := range ed.spans {
		ra, rb, n, ok := w.leadingZeroNumber(sp, ed.repl[i])
		switch {
		case !ok:
		case ra == n.a && rb == n.b:
			ed.spans[i].quote = 1
		default:
			ed.repl[i] = ""
		}
	}
}

// leadingZeroNumber reports whether replacing sp with rep would put a
// leading zero in a number of the body, with the span's raw range and the
// number's.
func (w *bodyWalker) leadingZeroNumber(sp Span, rep string) (ra, rb int, n rawRange, ok bool) {
	if len(rep) < 2 || rep[0] != '0' {
		return 0, 0, rawRange{}, false
	}
	ra, _ = w.v.rawRange(sp.Start)
	_, rb = w.v.rawRange(sp.End)
	r := w.rangeOf(ra, rb)
	if r < 0 || !w.ranges[r].number {
		return 0, 0, rawRange{}, false
	}
	return ra, rb, w.ranges[r], true
}

// MaskRequest masks an API request body: every JSON string value except the
// structural fields of the Messages API schema, the keys and numbers of
// tool inputs, with thinking and redacted_thinking blocks untouched and
// every byte outside changed values kept. It returns the masked body and
// the request's restore set (what the answer may restore). It fails, and
// returns nothing to forward, when the body is not JSON, has a duplicate
// key, or pseudonyms cannot be recorded.
func (e *Engine) MaskRequest(body []byte, kind Body, stats Stats) ([]byte, *Restore, error) {
	return e.AppendMaskRequest(nil, body, kind, stats)
}

// AppendMaskRequest is MaskRequest appending to dst, so that a caller can
// reuse its buffers.
func (e *Engine) AppendMaskRequest(dst, body []byte, kind Body, stats Stats) ([]byte, *Restore, error) {
	return e.AppendMaskRequestContext(context.Background(), dst, body, kind, stats)
}

// AppendMaskRequestContext is AppendMaskRequest for a request that may be
// given up: a wait for the store to record new pseudonyms ends when ctx is
// done, and masking fails with ctx's error.
func (e *Engine) AppendMaskRequestContext(ctx context.Context, dst, body []byte, kind Body, stats Stats) ([]byte, *Restore, error) {
	w := walkerPool.Get().(*bodyWalker)
	defer w.release()
	if err := w.walk(body, kind); err != nil {
		return nil, nil, err
	}
	w.v.d = w.v.d[:0]
	w.v.build(body, viewState{}, true)
	e.mu.RLock()
	gen := int32(e.idx.len())
	e.mu.RUnlock()
	local := map[int32]bool{}
	scope := maskScope{
		keep:   w.keep,
		gen:    gen,
		local:  func(id int32, _ int) { local[id] = true },
		usable: func(id int32, _ int) bool { return local[id] },
		ctx:    ctx,
	}
	if _, err := e.maskPass(&w.v, 0, true, &scope, &w.ed); err != nil {
		return nil, nil, err
	}
	if err := w.checkNumbers(&w.ed); err != nil {
		return nil, nil, err
	}
	// after the content: what this body taught the store (a bucket in an
	// s3:// URL) counts in its structural fields too
	if err := w.checkStructural(e); err != nil {
		return nil, nil, err
	}
	out, err := w.v.rewrite(dst, 0, len(w.v.d), w.ed.spans, w.ed.repl)
	if err != nil {
		return nil, nil, err
	}
	if stats != nil {
		for _, k := range w.ed.kinds {
			stats[k]++
		}
	}
	r := e.NewRestore()
	r.addIDs(w.ed.ids)
	return out, r, nil
}

// ErrStructural is returned for a request body whose structural fields
// (ids, names, the model, a batch request's custom_id), which are not
// masked, hold a value that masking would replace.
var ErrStructural = errors.New("a structural field of the request holds a value to mask")

// checkStructural looks at the structural values of a request (strings
// with their quotes, numbers, keys the schema does not name), all together,
// each on a line of its own, and at the text of base64 text documents: if
// any holds a value to mask, the request is refused. Tool names count only
// for what a detector finds: a name a program gives its tool (WebFetch)
// may also be a value the store learned elsewhere.
func (w *bodyWalker) checkStructural(e *Engine) error {
	text := w.lines(w.scratch[:0], w.structural)
	for _, r := range w.b64 {
		raw := decodeKey(w.body[r.a:r.b])
		dec, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return ErrStructural // not base64: the API refuses it too
		}
		text = append(append(text, dec...), '\n')
	}
	w.scratch = text
	if len(text) > 0 {
		if found, err := e.Holds(text); err != nil || found {
			return cmp.Or(err, ErrStructural)
		}
	}
	if len(w.names) > 0 {
		text = w.lines(w.scratch[:0], w.names)
		w.scratch = text
		if e.detects(text) {
			return ErrStructural
		}
	}
	return nil
}

// lines appends the body's ranges rs to text, each on a line of its own.
func (w *bodyWalker) lines(text []byte, rs []rawRange) []byte {
	for _, r := range rs {
		text = append(append(text, w.body[r.a:r.b]...), '\n')
	}
	return text
}

// UnmaskJSON restores, in the string values of a JSON document (a
// response, a batch result line), the pseudonyms r allows, leaving
// thinking and redacted_thinking blocks and the structural fields of the
// schema as they are. Bytes outside changed values are kept.
func (e *Engine) UnmaskJSON(body []byte, kind Body, r *Restore, stats Stats) ([]byte, error) {
	w := walkerPool.Get().(*bodyWalker)
	defer w.release()
	if err := w.walk(body, kind); err != nil {
		return nil, err
	}
	w.v.d = w.v.d[:0]
	w.v.build(body, viewState{}, true)
	e.unmaskPass(&w.v, 0, true, r, w.keep, &w.ed)
	if len(w.ed.spans) == 0 {
		return body, nil
	}
	w.restoreNumbers(&w.ed)
	out, err := w.v.rewrite(make([]byte, 0, len(body)), 0, len(w.v.d), w.ed.spans, w.ed.repl)
	if err != nil {
		return nil, err
	}
	if stats != nil {
		for _, k := range w.ed.kinds {
			stats[k]++
		}
	}
	return out, nil
}

func (w *bodyWalker) release() {
	w.body, w.v.raw = nil, nil
	if cap(w.v.d) > 4<<20 {
		*w = bodyWalker{} // do not keep a huge body's buffers
	}
	walkerPool.Put(w)
}

var walkerPool = sync.Pool{New: func() any { return new(bodyWalker) }}

func (w *bodyWalker) ws(p int) int { return skipWS(w.body, p) }

// skipWS returns the position of the first byte at or after p that is not
// JSON whitespace.
func skipWS(b []byte, p int) int {
	for p < len(b) {
		switch b[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

// value parses the value at p, at schema position n.
func (w *bodyWalker) value(p int, n node, depth int) (int, error) {
	b := w.body
	if p >= len(b) {
		return 0, &SyntaxError{Offset: p}
	}
	switch c := b[p]; {
	case c == '"':
		q, err := w.str(p)
		if err != nil {
			return 0, err
		}
		switch n {
		case nSkip:
			w.structural = append(w.structural, rawRange{a: p, b: q})
		case nName:
			w.names = append(w.names, rawRange{a: p, b: q})
		case nB64Text:
			// the text the API decodes, and the data as it is sent
			w.b64 = append(w.b64, rawRange{a: p + 1, b: q - 1})
			w.structural = append(w.structural, rawRange{a: p, b: q})
		case nOpaque, nOpaqueString:
		default:
			w.ranges = append(w.ranges, rawRange{a: p + 1, b: q - 1})
		}
		return q, nil
	case c == '{':
		if depth >= maxDepth {
			return 0, &SyntaxError{Offset: p}
		}
		switch n {
		case nOpaqueString:
			n = nSkip // opaque only as a string
		case nMessage:
			if w.memberIs(p, "role", "assistant") {
				n = nAssistantMessage
			}
		case nAssistantBlock, nBlock:
			// one look at the block's type: thinking is passed whole (its
			// signature covers it) only where the model wrote it, a
			// search result's content is the API's own, and only a tool
			// call's name is a tool's name
			switch t, _ := w.member(p, "type"); {
			case n == nAssistantBlock && (t == "thinking" || t == "redacted_thinking"):
				n = nOpaque
			case t == "web_search_tool_result":
				n = nSearchToolResult
			case t == "tool_use" || t == "server_tool_use" || t == "mcp_tool_use":
				n = nToolUse
			default:
				n = nBlock
			}
		case nSearchResultItem:
			n = nBlock
			if w.memberIs(p, "type", "web_search_result") {
				n = nSearchResult
			}
		case nSource:
			switch {
			case !w.isBase64Source(p):
				n = nTextSource
			case !w.binaryMedia(p):
				n = nB64Source
			}
		}
		if n == nBlock || n == nSearchToolResult || n == nToolUse {
			if w.blocks++; w.blocks > maxBlockDepth {
				return 0, ErrTooDeep
			}
			defer func() { w.blocks-- }()
		}
		return w.object(p, n, depth+1)
	case c == '[':
		if depth >= maxDepth {
			return 0, &SyntaxError{Offset: p}
		}
		return w.array(p, n, depth+1)
	case c == 't':
		return w.lit(p, "true")
	case c == 'f':
		return w.lit(p, "false")
	case c == 'n':
		return w.lit(p, "null")
	case c == '-' || isDigit(c):
		q, err := w.number(p)
		if err == nil && n == nAny {
			w.ranges = append(w.ranges, rawRange{a: p, b: q, number: true})
		}
		if err == nil && n == nSkip {
			w.structural = append(w.structural, rawRange{a: p, b: q})
		}
		return q, err
	}
	return 0, &SyntaxError{Offset: p}
}

func (w *bodyWalker) lit(p int, l string) (int, error) {
	if !hasPrefixAt(w.body, p, l) {
		return 0, &SyntaxError{Offset: p}
	}
	return p + len(l), nil
}

// number validates a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (w *bodyWalker) number(p int) (int, error) {
	b := w.body
	q := p
	digits := func() int {
		d := q
		for q < len(b) && isDigit(b[q]) {
			q++
		}
		return q - d
	}
	if q < len(b) && b[q] == '-' {
		q++
	}
	if q < len(b) && b[q] == '0' {
		q++
	} else if digits() == 0 {
		return 0, &SyntaxError{Offset: p}
	}
	if q < len(b) && b[q] == '.' {
		q++
		if digits() == 0 {
			return 0, &SyntaxError{Offset: p}
		}
	}
	if q < len(b) && (b[q] == 'e' || b[q] == 'E') {
		q++
		if q < len(b) && (b[q] == '+' || b[q] == '-') {
			q++
		}
		if digits() == 0 {
			return 0, &SyntaxError{Offset: p}
		}
	}
	return q, nil
}

// str returns the position after the string that starts at p, checking
// that it is a valid JSON string (escapes, no raw control bytes). Runs of
// ordinary bytes are skipped eight at a time.
func (w *bodyWalker) str(p int) (int, error) { return stringEnd(w.body, p) }

// stringEnd returns the position after the JSON string that starts at
// b[p], checking that it is valid.
func stringEnd(b []byte, p int) (int, error) {
	q := p + 1
	for {
		found := false
		for q+8 <= len(b) {
			if m := specialMask(binary.LittleEndian.Uint64(b[q:])); m != 0 {
				q += bits.TrailingZeros64(m) >> 3
				found = true
				break
			}
			q += 8
		}
		if !found {
			for q < len(b) && b[q] != '"' && b[q] != '\\' && b[q] >= 0x20 {
				q++
			}
			if q >= len(b) {
				return 0, &SyntaxError{Offset: p}
			}
		}
		switch c := b[q]; {
		case c == '"':
			return q + 1, nil
		case c == '\\':
			// runs of short escapes (\n\t\t in source code) without a call
			for q+1 < len(b) && b[q] == '\\' && shortEscape[b[q+1]] {
				q += 2
			}
			if q < len(b) && b[q] == '\\' {
				n := escapeSize(b[q:])
				if n == 0 {
					return 0, &SyntaxError{Offset: q}
				}
				q += n
			}
		default:
			return 0, &SyntaxError{Offset: q}
		}
	}
}

var shortEscape = [256]bool{'"': true, '\\': true, '/': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// specialMask has the high bit set in every byte of x (little-endian) that
// may be a quote, a backslash or a control byte. The lowest set bit is
// always exact, which is all str needs.
func specialMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (0x22 * ones)
	b := x ^ (0x5c * ones)
	return ((q-ones)&^q | (b-ones)&^b | (x-0x20*ones)&^x) & highs
}

// escapeSize returns the length of the valid escape at b[0], or 0.
func escapeSize(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) >= 6 && isHexAny(b[2]) && isHexAny(b[3]) && isHexAny(b[4]) && isHexAny(b[5]) {
			return 6
		}
	}
	return 0
}

func (w *bodyWalker) object(p int, n node, depth int) (int, error) {
	b := w.body
	p = w.ws(p + 1)
	if p < len(b) && b[p] == '}' {
		return p + 1, nil
	}
	mark := len(w.keys)
	defer func() { w.keys = w.keys[:mark] }()
	var seen map[string]bool
	for {
		if p >= len(b) || b[p] != '"' {
			return 0, &SyntaxError{Offset: p}
		}
		q, err := w.str(p)
		if err != nil {
			return 0, err
		}
		key := b[p+1 : q-1]
		switch n {
		case nAny:
			// a content object's keys are content too (a tool input)
			w.ranges = append(w.ranges, rawRange{a: p + 1, b: q - 1})
		case nOpaque:
		default:
			// a key the schema does not name goes to the API as it is
			w.structural = append(w.structural, rawRange{a: p, b: q})
		}
		k := decodeKey(key)
		if len(w.keys)-mark < 16 {
			for _, o := range w.keys[mark:] {
				if o == k {
					return 0, ErrDuplicateKey
				}
			}
			w.keys = append(w.keys, k)
		} else {
			if seen == nil {
				seen = map[string]bool{}
				for _, o := range w.keys[mark:] {
					seen[o] = true
				}
			}
			if seen[k] {
				return 0, ErrDuplicateKey
			}
			seen[k] = true
		}
		p = w.ws(q)
		if p >= len(b) || b[p] != ':' {
			return 0, &SyntaxError{Offset: p}
		}
		p, err = w.value(w.ws(p+1), child(n, key), depth)
		if err != nil {
			return 0, err
		}
		p = w.ws(p)
		if p >= len(b) {
			return 0, &SyntaxError{Offset: p}
		}
		if b[p] == '}' {
			return p + 1, nil
		}
		if b[p] != ',' {
			return 0, &SyntaxError{Offset: p}
		}
		p = w.ws(p + 1)
	}
}

// decodeKey returns a key as the upstream reads it (escapes decoded).
func decodeKey(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var v view
	v.build(raw, viewState{lits: 1}, true)
	return string(v.d)
}

func (w *bodyWalker) array(p int, n node, depth int) (int, error) {
	b := w.body
	p = w.ws(p + 1)
	if p < len(b) && b[p] == ']' {
		return p + 1, nil
	}
	el := element(n)
	for {
		var err error
		p, err = w.value(p, el, depth)
		if err != nil {
			return 0, err
		}
		p = w.ws(p)
		if p >= len(b) {
			return 0, &SyntaxError{Offset: p}
		}
		if b[p] == ']' {
			return p + 1, nil
		}
		if b[p] != ',' {
			return 0, &SyntaxError{Offset: p}
		}
		p = w.ws(p + 1)
	}
}

// memberIs reports whether the object at p has member name with the
// string value want (names and values as the upstream reads them).
func (w *bodyWalker) memberIs(p int, name, want string) bool {
	v, ok := w.member(p, name)
	return ok && v == want
}

// member returns the string value of member name of the object at p,
// escapes decoded.
func (w *bodyWalker) member(p int, name string) (string, bool) {
	r := w.memberAt(p, name)
	if r < 0 || r >= len(w.body) || w.body[r] != '"' {
		return "", false
	}
	e, err := w.str(r)
	if err != nil {
		return "", false
	}
	return decodeKey(w.body[r+1 : e-1]), true
}

// binaryMedia reports whether the source object at p says its data is an
// image or a PDF, which are not read; any other data (text, JSON, a type
// not given) is read as the text the API would decode.
func (w *bodyWalker) binaryMedia(p int) bool {
	mt, ok := w.member(p, "media_type")
	mt = strings.ToLower(mt)
	return ok && (strings.HasPrefix(mt, "image/") || mt == "application/pdf")
}

// keyIs reports whether a raw key reads as name.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	return decodeKey(raw) == name
}

// isBase64Source reports whether the source object at p says its data is
// base64 (an image or a PDF). Any other source's data is text, and masked.
func (w *bodyWalker) isBase64Source(p int) bool {
	return w.memberIs(p, "type", "base64")
}

// memberAt returns where the value of member name of the object at p
// starts, or -1. A key is compared as the upstream reads it (escapes
// decoded).
func (w *bodyWalker) memberAt(p int, name string) int {
	b := w.body
	q := w.ws(p + 1)
	depth := 0
	for q < len(b) {
		switch b[q] {
		case '"':
			e, err := w.str(q)
			if err != nil {
				return -1
			}
			if depth == 0 && keyIs(b[q+1:e-1], name) {
				r := w.ws(e)
				if r < len(b) && b[r] == ':' {
					return w.ws(r + 1)
				}
			}
			q = e
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return -1
			}
			depth--
		}
		q++
	}
	return -1
}
