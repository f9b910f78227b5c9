package mask

import (
	"errors"
	"io"
)

// Stream masks or unmasks text that arrives in pieces. Write returns what
// is safe to emit now and holds back only the tail that could still become
// an identifier (or a pseudonym), or an escape cut in two; Flush returns
// the rest at the end. The output does not depend on how the input was
// cut.
//
// A Stream is not safe for concurrent use; make one per stream.
type Stream struct {
	e       *Engine
	mode    streamMode
	restore *Restore
	report  func(Finding)
	stats   Stats

	// jsonText: the text at the stream's own level is JSON (a tool
	// input's partial_json), so a bare run of digits there is a number
	jsonText bool

	raw  []byte    // input not released yet
	st   viewState // the reading state at raw[0]
	ctx  []byte    // decoded text before raw[0], for detectors that look back
	base int64     // input offset of raw[0]
	// the last span released, relative to the start of ctx (may be < 0)
	spanStart, spanEnd int

	v     view
	ed    edits
	scope maskScope
	out   []byte

	line      int   // scan mode: line number at t.counted
	lineStart int64 // scan mode: input offset where that line starts
	counted   int64 // scan mode: input offset up to which lines are counted
}

type streamMode uint8

const (
	modeMask streamMode = iota
	modeUnmask
	modeScan
)

// NewMasker returns a Stream that masks.
func (e *Engine) NewMasker(stats Stats) *Stream {
	return e.newStream(modeMask, nil, stats)
}

// NewUnmasker returns a Stream that restores the pseudonyms r allows
// (e.RestoreAll() for everything the store issued).
func (e *Engine) NewUnmasker(r *Restore, stats Stats) *Stream {
	return e.newStream(modeUnmask, r, stats)
}

// NewScanner returns a Stream that only reports what masking would
// replace. It issues nothing: values the detectors find are reported, and
// so are values the store already learned.
func (e *Engine) NewScanner(report func(Finding)) *Stream {
	t := e.newStream(modeScan, nil, nil)
	t.report = report
	t.line = 1
	return t
}

func (e *Engine) newStream(mode streamMode, r *Restore, stats Stats) *Stream {
	t := &Stream{e: e, mode: mode, restore: r, stats: stats}
	e.mu.RLock()
	t.scope.gen = int32(e.idx.len())
	e.mu.RUnlock()
	// a stream uses the values known when it began; what it finds itself
	// is masked bare from the next stream on
	t.scope.concurrent = true
	return t
}

// InString makes the stream read its input as the content of a JSON
// string (an event's text or partial_json): its escapes are decoded, and
// the text they spell is read as any other.
func (t *Stream) InString() {
	t.st = viewState{lits: 1}
}

// InJSONString is InString for a JSON string whose content is itself JSON
// text (a tool input's partial_json): a pseudonym written there as a bare
// number whose original is not one (a leading zero) is restored as a
// string.
func (t *Stream) InJSONString() {
	t.InString()
	t.jsonText = true
}

// Write feeds p and returns the output that is ready. The returned slice
// is valid until the next call.
func (t *Stream) Write(p []byte) ([]byte, error) {
	t.raw = append(t.raw, p...)
	return t.process(false)
}

// Flush returns everything still held back.
func (t *Stream) Flush() ([]byte, error) {
	return t.process(true)
}

// Pending reports how many input bytes are held back.
func (t *Stream) Pending() int { return len(t.raw) }

func (t *Stream) process(final bool) ([]byte, error) {
	v := &t.v
	v.d = append(v.d[:0], t.ctx...)
	v.build(t.raw, t.st, final)
	lo := len(t.ctx)
	var hold int
	var err error
	switch t.mode {
	case modeUnmask:
		hold = t.e.unmaskPass(v, lo, final, t.restore, nil, &t.ed)
		if t.jsonText {
			t.restoreNumbers()
		}
	case modeScan:
		hold, err = t.e.scanPass(v, lo, final, &t.scope, &t.ed)
	default:
		t.scope.spanStart, t.scope.spanEnd = t.spanStart, t.spanEnd
		hold, err = t.e.maskPass(v, lo, final, &t.scope, &t.ed)
	}
	if err != nil {
		return nil, err
	}
	if final {
		hold = len(v.d)
	}
	hold = max(hold, lo)
	t.out = t.out[:0]
	ed := &t.ed
	n := 0
	for n < len(ed.spans) && ed.spans[n].End <= hold {
		n++
	}
	if t.mode == modeScan {
		t.reportFindings(ed.spans[:n], ed.kinds[:n])
	} else {
		t.out, err = v.rewrite(t.out, lo, hold, ed.spans[:n], ed.repl[:n])
		if err != nil {
			return nil, err
		}
		if t.stats != nil {
			for _, k := range ed.kinds[:n] {
				t.stats[k]++
			}
		}
	}
	if d := ed.lastDet; d >= 0 && d < n {
		t.spanStart, t.spanEnd = ed.spans[d].Start, ed.spans[d].End
	}
	// keep the context the detectors look back into, and the held tail
	rawHold := v.rawStart(hold)
	if t.mode == modeScan {
		t.countLines(rawHold)
	}
	t.st = v.stateAt(hold)
	keep := max(hold-maxContextBack, 0)
	t.ctx = append(t.ctx[:0], v.d[keep:hold]...)
	t.spanStart -= keep
	t.spanEnd -= keep
	n = copy(t.raw, t.raw[rawHold:])
	t.raw = t.raw[:n]
	t.base += int64(rawHold)
	return t.out, nil
}

// restoreNumbers: in JSON text, an original with a leading zero whose
// pseudonym stands as a whole number is restored as a string ("0123…");
// as part of a number (a sign or a fraction beside it) the pseudonym stays.
func (t *Stream) restoreNumbers() {
	ed, d := &t.ed, t.v.d
	for i, sp := range ed.spans {
		if rep := ed.repl[i]; len(rep) < 2 || rep[0] != '0' || t.v.stateAt(sp.Start).lits != 1 {
			continue
		}
		a := sp.Start - 1
		for a >= 0 && isJSONSpace(d[a]) {
			a--
		}
		b := sp.End
		for b < len(d) && isJSONSpace(d[b]) {
			b++
		}
		if a >= 0 && (d[a] == ':' || d[a] == '[' || d[a] == ',') && (b == len(d) || d[b] == ',' || d[b] == '}' || d[b] == ']') {
			ed.spans[i].quote = 2 // a quote inside the partial_json string: \"
		} else {
			ed.repl[i] = ""
		}
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// reportFindings reports spans (scan mode) with their input position.
func (t *Stream) reportFindings(spans []Span, kinds []string) {
	for i, sp := range spans {
		r := t.v.rawStart(sp.Start)
		t.countLines(r)
		off := t.base + int64(r)
		end := t.v.rawStart(sp.End)
		if sp.End == len(t.v.d) {
			end = t.v.used
		}
		t.report(Finding{Offset: off, Length: end - r, Kind: kinds[i], Rule: t.e.ruleName(sp, kinds[i]), Line: t.line, Column: int(off-t.lineStart) + 1})
	}
}

// countLines advances the line count over the raw input up to raw[to].
func (t *Stream) countLines(to int) {
	for i := int(t.counted - t.base); i < to; i++ {
		if t.raw[i] == '\n' {
			t.line++
			t.lineStart = t.base + int64(i) + 1
		}
	}
	if c := t.base + int64(to); c > t.counted {
		t.counted = c
	}
}

const streamChunk = 256 << 10

// Copy runs a whole reader through the stream into w (nil discards), in
// bounded memory.
func (t *Stream) Copy(w io.Writer, r io.Reader) error {
	if w == nil {
		w = io.Discard
	}
	_, err := io.Copy(w, t.Reader(r))
	return err
}

// Reader returns a reader of r's text run through the stream: what is safe
// is released as r is read, the rest at r's end.
func (t *Stream) Reader(r io.Reader) io.Reader {
	return &streamReader{t: t, src: r, buf: make([]byte, streamChunk)}
}

type streamReader struct {
	t    *Stream
	src  io.Reader
	buf  []byte
	out  []byte // the stream's own output, served until the next call into it
	done bool
}

func (sr *streamReader) Read(p []byte) (int, error) {
	for len(sr.out) == 0 {
		if sr.done {
			return 0, io.EOF
		}
		n, rerr := sr.src.Read(sr.buf)
		var err error
		switch {
		case errors.Is(rerr, io.EOF):
			if n > 0 {
				if sr.out, err = sr.t.Write(sr.buf[:n]); err == nil && len(sr.out) > 0 {
					// serve this first; Flush comes at the next call
					sr.src = eofReader{}
					continue
				}
			}
			if err == nil {
				sr.out, err = sr.t.Flush()
			}
			sr.done = true
		case n > 0:
			sr.out, err = sr.t.Write(sr.buf[:n])
		case rerr != nil:
			return 0, rerr
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, sr.out)
	sr.out = sr.out[n:]
	return n, nil
}

// WriteTo lets io.Copy hand the stream's output straight to the writer.
func (sr *streamReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(sr.out) == 0 {
			if _, err := sr.Read(nil); errors.Is(err, io.EOF) {
				return total, nil
			} else if err != nil {
				return total, err
			}
		}
		k, err := w.Write(sr.out)
		total += int64(k)
		sr.out = sr.out[k:]
		if err != nil {
			return total, err
		}
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// MaskBytes masks a whole piece of text and returns the masked copy.
func (e *Engine) MaskBytes(text []byte, stats Stats) ([]byte, error) {
	t := e.NewMasker(stats)
	t.raw = text
	out, err := t.process(true)
	return append([]byte(nil), out...), err
}

// UnmaskBytes restores the pseudonyms r allows in a whole piece of text.
func (e *Engine) UnmaskBytes(text []byte, r *Restore, stats Stats) ([]byte, error) {
	t := e.NewUnmasker(r, stats)
	t.raw = text
	out, err := t.process(true)
	return append([]byte(nil), out...), err
}

// Holds reports whether masking text would replace anything in it: a value
// a detector finds or one the store learned. It issues nothing.
func (e *Engine) Holds(text []byte) (bool, error) {
	found := false
	t := e.NewScanner(func(Finding) { found = true })
	t.raw = text
	if _, err := t.process(true); err != nil {
		return false, err
	}
	return found, nil
}

// detects reports whether a detector finds a value to mask in text (not an
// issued pseudonym); values the store learned are not looked for.
func (e *Engine) detects(text []byte) bool {
	var v view
	v.build(text, viewState{}, true)
	spans, _ := e.sc.scan(v.d, 0, true, nil)
	if len(spans) == 0 {
		return false
	}
	e.need(tRev)
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, sp := range spans {
		if !e.idx.isPseudonym(v.d[sp.Start:sp.End], sp.Dashed) {
			return true
		}
	}
	return false
}
