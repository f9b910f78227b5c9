package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/claude-secure/claude-secure/mask"
)

// maxEvent bounds one server-sent event; a larger one ends the stream with
// an error event rather than growing without bound.
const maxEvent = 16 << 20

// sseUnmasker rewrites a Messages API event stream as it arrives: each
// event is released as soon as it is complete and unmasked. Text and tool
// input JSON stream through one mask.Stream per content block, so a
// pseudonym split over any number of deltas is still restored; whatever a
// block's stream holds back is released before its content_block_stop.
// Thinking, signatures and unknown events pass unchanged.
type sseUnmasker struct {
	src  io.ReadCloser
	e    *mask.Engine
	info *reqInfo
	// in[start:] is input not yet parsed into events; seen bytes of it
	// were already searched for an event end
	in          []byte
	start, seen int
	readSize    int
	// out[outPos:] is output ready for the reader
	out    []byte
	outPos int
	blocks map[int]*blockStream
	done   bool
	// started and stopped track message_start and message_stop, to tell a
	// complete stream from one the upstream cut off
	started, stopped bool

	lines [][]byte // scratch: the current event's lines
	data  []byte   // scratch: the current event's data, if it has several lines
}

type blockStream struct {
	s         *mask.Stream
	field     string // "text" or "partial_json"
	deltaType string // "text_delta" or "input_json_delta"
}

// Reads start small, since a model's events arrive one at a time, and grow
// while reads come back full (a burst), so a gateway holding many streams
// open keeps little memory per stream.
const (
	minRead = 4 << 10
	maxRead = 32 << 10
)

func newSSEUnmasker(src io.ReadCloser, e *mask.Engine, info *reqInfo) *sseUnmasker {
	return &sseUnmasker{src: src, e: e, info: info, blocks: map[int]*blockStream{}, readSize: minRead}
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
	if rest := u.in[u.start:]; len(bytes.TrimSpace(rest)) > 0 {
		u.handle(rest, []byte("\n"))
	}
	u.in, u.start = nil, 0
	u.flushBlocks()
	if u.started && !u.stopped {
		u.emitError("upstream ended the stream before message_stop")
	}
	u.done = true
}

func (u *sseUnmasker) fail(why string) {
	for u.next() {
		// release the events that did arrive whole
	}
	u.flushBlocks()
	u.emitError(why)
	u.in, u.start = nil, 0
	u.done = true
}

func (u *sseUnmasker) emitError(msg string) {
	data, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": "claude-secure: " + msg}})
	u.out = append(u.out, "event: error\ndata: "...)
	u.out = append(u.out, data...)
	u.out = append(u.out, "\n\n"...)
}

// handle rewrites one event (its lines without the final blank line) and
// appends it, with sep, to the output.
func (u *sseUnmasker) handle(ev, sep []byte) {
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
	f := parseEvent(data)
	var pre []byte // events synthesized before this one (released held text)
	switch string(f.typ) {
	case "message_start":
		u.started = true
	case "message_stop":
		u.stopped = true
	case "content_block_start":
		u.startBlock(f.index, f.blockType)
	case "content_block_stop":
		pre = u.flushBlock(f.index)
	case "content_block_delta":
		switch b := u.blocks[f.index]; {
		case b != nil && string(f.deltaType) == b.deltaType:
			a, z, ok := f.deltaField(data, b.field)
			if !ok {
				break
			}
			ready, err := b.s.Write(data[a:z])
			if err != nil {
				u.fail("could not unmask a delta")
				return
			}
			// the delta's text was the only content in the event
			u.writeEvent(sep, data[:a], ready, data[z:])
			return
		case string(f.deltaType) == "thinking_delta" || string(f.deltaType) == "signature_delta":
			u.writeEvent(sep, data) // passes byte-identical
			return
		}
	}
	out, err := u.e.UnmaskJSON(data, mask.BodyEvent, u.info.unmasked)
	if err != nil {
		// not JSON after all: it may be an upstream error in plain text
		out, err = u.e.UnmaskBytes(data, u.info.unmasked)
	}
	if err != nil {
		u.fail("could not unmask an event")
		return
	}
	u.out = append(u.out, pre...)
	u.writeEvent(sep, out)
}

// event holds what the unmasker reads from an event's data, found in one
// walk over its top-level members.
type event struct {
	typ, blockType, deltaType []byte
	index                     int
	delta                     [2]int // the delta object's range
}

func parseEvent(data []byte) event {
	f := event{index: -1}
	members(data, 0, func(k []byte, a, z int) bool {
		switch string(k) {
		case "type":
			if s, e, ok := stringContent(data, a, z); ok {
				f.typ = data[s:e]
			}
		case "index":
			f.index = smallInt(data[a:z])
		case "delta":
			f.delta = [2]int{a, z}
			f.deltaType = stringAt(data[:z], a, "type")
		case "content_block":
			f.blockType = stringAt(data[:z], a, "type")
		}
		return true
	})
	return f
}

// deltaField returns the content range of the delta's string field name.
func (f *event) deltaField(data []byte, name string) (int, int, bool) {
	return stringMember(data[:f.delta[1]], f.delta[0], name)
}

// stringAt returns the raw content of the string member key of the object
// at data[p:], or nil.
func stringAt(data []byte, p int, key string) []byte {
	if a, z, ok := stringMember(data, p, key); ok {
		return data[a:z]
	}
	return nil
}

// writeEvent writes the event's lines with its data replaced by the
// concatenation of parts.
func (u *sseUnmasker) writeEvent(sep []byte, parts ...[]byte) {
	wrote := false
	for _, l := range u.lines {
		if _, ok := fieldValue(l, "data"); ok {
			if !wrote {
				u.out = append(u.out, "data: "...)
				for _, p := range parts {
					u.out = append(u.out, p...)
				}
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

func (u *sseUnmasker) startBlock(index int, typ []byte) {
	if index < 0 {
		return
	}
	switch string(typ) {
	case "text":
		u.blocks[index] = &blockStream{s: u.e.NewUnmasker(u.info.unmasked), field: "text", deltaType: "text_delta"}
	case "tool_use", "server_tool_use", "mcp_tool_use":
		s := u.e.NewUnmasker(u.info.unmasked)
		// partial_json is JSON text inside a JSON string: restored values
		// need one more level of escaping
		s.EscapeForJSONString()
		u.blocks[index] = &blockStream{s: s, field: "partial_json", deltaType: "input_json_delta"}
	}
}

// flushBlock releases what a block's stream held back, as one more delta.
func (u *sseUnmasker) flushBlock(index int) []byte {
	b := u.blocks[index]
	if b == nil {
		return nil
	}
	delete(u.blocks, index)
	rest, err := b.s.Flush()
	if err != nil || len(rest) == 0 {
		return nil
	}
	var ev []byte
	ev = append(ev, `event: content_block_delta`+"\n"+`data: {"type":"content_block_delta","index":`...)
	ev = strconv.AppendInt(ev, int64(index), 10)
	ev = append(ev, fmt.Sprintf(`,"delta":{"type":%q,%q:"`, b.deltaType, b.field)...)
	ev = append(ev, rest...)
	return append(ev, "\"}}\n\n"...)
}

// flushBlocks releases every open block, in index order.
func (u *sseUnmasker) flushBlocks() {
	idx := slices.Sorted(maps.Keys(u.blocks))
	for _, i := range idx {
		u.out = append(u.out, u.flushBlock(i)...)
	}
}
