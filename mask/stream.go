package mask

import (
	"errors"
	"io"
)

// Stream masks or unmasks text that arrives in pieces. Write returns what
// is safe to emit now and holds back only the tail that could still become
// an identifier (or a pseudonym); Flush returns the rest at the end. The
// output does not depend on how the input was cut.
//
// A Stream is not safe for concurrent use; make one per stream.
type Stream struct {
	e      *Engine
	sc     *scanner
	unmask bool
	scan   func(f Finding) // scan-only mode: report, do not rewrite
	stats  Stats

	line      int   // scan mode: line number at buf[from]
	lineStart int64 // scan mode: input offset where that line starts

	buf  []byte // context (already emitted) + pending input
	from int    // start of pending input in buf
	// the last span, relative to buf (may be < 0)
	spanStart, spanEnd int
	base               int64 // input offset of buf[0]
	spans              []Span
	repl               []string
	out                []byte

	escape func(string) string // applied to every restored value, if set
}

// NewMasker returns a Stream that masks.
func (e *Engine) NewMasker(stats Stats) *Stream {
	return &Stream{e: e, sc: &e.mask, stats: stats}
}

// NewUnmasker returns a Stream that restores originals.
func (e *Engine) NewUnmasker(stats Stats) *Stream {
	return &Stream{e: e, sc: &e.unmask, unmask: true, stats: stats}
}

// NewScanner returns a Stream that only reports what it finds.
func (e *Engine) NewScanner(report func(Finding)) *Stream {
	return &Stream{e: e, sc: &e.mask, scan: report, line: 1}
}

// Write feeds p and returns the output that is ready. The returned slice
// is valid until the next call.
func (t *Stream) Write(p []byte) ([]byte, error) {
	t.buf = append(t.buf, p...)
	return t.process(false)
}

// Flush returns everything still held back.
func (t *Stream) Flush() ([]byte, error) {
	return t.process(true)
}

// Pending reports how many input bytes are held back.
func (t *Stream) Pending() int { return len(t.buf) - t.from }

func (t *Stream) process(final bool) ([]byte, error) {
	var hold int
	t.spans, hold = t.sc.scanAfter(t.buf, t.from, max(t.spanStart, 0), max(t.spanEnd, 0), final, t.spans)
	if final {
		hold = len(t.buf)
	}
	if hold < t.from {
		hold = t.from
	}
	t.out = t.out[:0]
	if t.scan != nil {
		cur := t.from
		count := func(to int) {
			for ; cur < to; cur++ {
				if t.buf[cur] == '\n' {
					t.line++
					t.lineStart = t.base + int64(cur) + 1
				}
			}
		}
		for _, sp := range t.spans {
			if sp.End > hold {
				break
			}
			count(sp.Start)
			off := t.base + int64(sp.Start)
			t.scan(Finding{Offset: off, Length: sp.End - sp.Start, Kind: t.e.kindName(sp),
				Line: t.line, Column: int(off-t.lineStart) + 1})
		}
		count(hold)
	} else {
		var err error
		if t.unmask {
			t.repl, err = t.e.originals(t.buf, t.spans, t.repl)
		} else {
			t.repl, err = t.e.pseudonyms(t.buf, t.spans, t.repl)
		}
		if err != nil {
			return nil, err
		}
		if t.escape != nil {
			for i, r := range t.repl {
				if r != "" {
					t.repl[i] = t.escape(r)
				}
			}
		}
		t.out = rewrite(t.out, t.buf, t.from, hold, t.spans, t.repl, t.stats, t.e.kindName)
	}
	for _, sp := range t.spans {
		if sp.End <= hold {
			t.spanStart, t.spanEnd = sp.Start, sp.End
		}
	}
	// keep context for the detectors that look back, and the held tail
	keep := hold - maxContextBack
	if keep < 0 {
		keep = 0
	}
	n := copy(t.buf, t.buf[keep:])
	t.buf = t.buf[:n]
	t.base += int64(keep)
	t.from = hold - keep
	t.spanStart -= keep
	t.spanEnd -= keep
	return t.out, nil
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

// EscapeForJSONString makes the stream write each restored value escaped
// for one more level of JSON string, for text that is itself the content
// of a JSON string (an input_json_delta's partial_json).
func (t *Stream) EscapeForJSONString() {
	t.escape = jsonEscape
}

// jsonEscape escapes s for the inside of a JSON string.
func jsonEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
