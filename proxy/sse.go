package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"

	"github.com/claude-secure/claude-secure/mask"
)

// maxEvent bounds one server-sent event; a larger one ends the stream with
// an error event rather than growing without bound.
const maxEvent = 16 << 20

// sseUnmasker rewrites a Messages API event stream as it arrives: each
// event is released as soon as it is complete and its data unmasked by a
// mask.EventUnmasker (which streams text and tool input per content block
// and releases held text before a block ends). This type only reads and
// writes the server-sent event framing.
type sseUnmasker struct {
	src io.ReadCloser
	eu  *mask.EventUnmasker
	// in[start:] is input not yet parsed into events; seen bytes of it
	// were already searched for an event end
	in          []byte
	start, seen int
	readSize    int
	// out[outPos:] is output ready for the reader
	out    []byte
	outPos int
	done   bool
	before mask.Emit

	lines [][]byte // scratch: the current event's lines
	data  []byte   // scratch: the current event's data, if it has several lines
}

// Reads start small, since a model's events arrive one at a time, and grow
// while reads come back full (a burst), so a gateway holding many streams
// open keeps little memory per stream.
const (
	minRead = 4 << 10
	maxRead = 32 << 10
)

func newSSEUnmasker(src io.ReadCloser, e *mask.Engine, info *reqInfo) *sseUnmasker {
	u := &sseUnmasker{src: src, eu: e.NewEventUnmasker(info.restoreSet(e), info.unmasked), readSize: minRead}
	u.before = u.addEvent
	return u
}

// fill makes output ready: it handles the events already in the input and,
// if none is complete, reads more. It returns false at the end.
func (u *sseUnmasker) fill() bool {
	if u.outPos == len(u.out) {
		u.out, u.outPos = u.out[:0], 0
	}
	for u.outPos == len(u.out) {
		if u.done {
			return false
		}
		if u.next() {
			// release together the events that arrived together: one write
			// (and one flush) per upstream read, not per event
			for len(u.out) < 64<<10 && u.next() {
			}
			continue
		}
		if u.start > 0 {
			n := copy(u.in, u.in[u.start:])
			u.in, u.start = u.in[:n], 0
		}
		u.in = slices.Grow(u.in, u.readSize)
		n, err := u.src.Read(u.in[len(u.in) : len(u.in)+u.readSize])
		u.in = u.in[:len(u.in)+n]
		if n == u.readSize {
			u.readSize = min(2*u.readSize, maxRead)
		}
		if len(u.in) > maxEvent {
			u.fail("an event is larger than 16 MiB")
			continue
		}
		if errors.Is(err, io.EOF) {
			u.finish()
		} else if err != nil {
			u.fail("upstream stream failed")
		}
	}
	return true
}

func (u *sseUnmasker) Read(b []byte) (int, error) {
	if !u.fill() {
		return 0, io.EOF
	}
	n := copy(b, u.out[u.outPos:])
	u.outPos += n
	return n, nil
}

// WriteTo hands each batch of events to w as it is ready, without a copy;
// the proxy's copy loop flushes after each write.
func (u *sseUnmasker) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for u.fill() {
		n, err := w.Write(u.out[u.outPos:])
		total += int64(n)
		u.outPos += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (u *sseUnmasker) Close() error { return u.src.Close() }

// next handles one complete event from the input, if there is one.
func (u *sseUnmasker) next() bool {
	in := u.in[u.start:]
	end, sep := eventEnd(in, u.seen)
	if end < 0 {
		u.seen = max(len(in)-2, 0)
		return false
	}
	u.seen = 0
	u.start += end + sep
	u.handle(in[:end], in[end:end+sep])
	return true
}

// eventEnd finds the blank line that ends the first event: its offset and
// the length of the separator.
func eventEnd(b []byte, from int) (int, int) {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		// "\n\n" or "\n\r\n"
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 1, 1
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 1, 2
		}
	}
	return -1, 0
}

// finish ends the stream at the upstream's EOF.
func (u *sseUnmasker) finish() {
	for u.next() {
		// a last read may carry several events along with EOF
	}
	// an event the upstream cut before its blank line is not an event
	// (a reader of the stream drops it too): none of it is released
	cut := len(bytes.TrimSpace(u.in[u.start:])) > 0
	u.in, u.start = nil, 0
	if err := u.eu.Finish(u.before); err != nil {
		u.emitError("could not unmask the end of the answer")
	} else if cut {
		u.emitError("upstream ended the stream in the middle of an event")
	} else if u.eu.Incomplete() {
		u.emitError("upstream ended the stream before message_stop")
	}
	u.done = true
}

func (u *sseUnmasker) fail(why string) {
	for !u.done && u.next() {
		// release the events that did arrive whole
	}
	if !u.done {
		u.eu.Finish(u.before)
		u.emitError(why)
	}
	u.in, u.start = nil, 0
	u.done = true
}

func (u *sseUnmasker) emitError(msg string) {
	data, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": "claude-secure: " + msg}})
	u.addEvent("error", data)
}

// addEvent appends an event of our own making.
func (u *sseUnmasker) addEvent(name string, data []byte) {
	u.out = append(u.out, "event: "...)
	u.out = append(u.out, name...)
	u.out = append(u.out, "\ndata: "...)
	u.out = append(u.out, data...)
	u.out = append(u.out, "\n\n"...)
}

// handle rewrites one event (its lines without the final blank line) and
// appends it, with sep, to the output.
func (u *sseUnmasker) handle(ev, sep []byte) {
	if u.done {
		return
	}
	u.lines = u.lines[:0]
	var data []byte
	dataLines := 0
	for rest := ev; len(rest) > 0; {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l = rest[:i+1]
		}
		rest = rest[len(l):]
		u.lines = append(u.lines, l)
		if v, ok := fieldValue(l, "data"); ok {
			switch dataLines {
			case 0:
				data = v
			case 1:
				u.data = append(append(append(u.data[:0], data...), '\n'), v...)
				data = u.data
			default:
				u.data = append(append(u.data, '\n'), v...)
				data = u.data
			}
			dataLines++
		}
	}
	if dataLines == 0 {
		u.out = append(append(u.out, ev...), sep...)
		return
	}
	out, err := u.eu.Event(data, u.before)
	if err != nil {
		u.done = true // nothing more is released from this stream
		u.emitError("could not unmask an event")
		return
	}
	u.writeEvent(sep, out)
}

// writeEvent writes the event's lines with its data replaced.
func (u *sseUnmasker) writeEvent(sep, data []byte) {
	wrote := false
	for _, l := range u.lines {
		if _, ok := fieldValue(l, "data"); ok {
			if !wrote {
				u.out = append(u.out, "data: "...)
				u.out = append(u.out, data...)
				u.out = append(u.out, '\n')
				wrote = true
			}
			continue
		}
		u.out = append(u.out, l...)
		if l[len(l)-1] != '\n' {
			u.out = append(u.out, '\n')
		}
	}
	u.out = append(u.out, sep...)
}

// fieldValue returns the value of an SSE line "name: value" (one optional
// space after the colon, line ending removed).
func fieldValue(line []byte, name string) ([]byte, bool) {
	if !bytes.HasPrefix(line, []byte(name)) || len(line) <= len(name) || line[len(name)] != ':' {
		return nil, false
	}
	v := line[len(name)+1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	v = bytes.TrimSuffix(v, []byte("\n"))
	v = bytes.TrimSuffix(v, []byte("\r"))
	return v, true
}
