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
	src    io.ReadCloser
	e      *mask.Engine
	info   *reqInfo
	in     []byte // input not yet parsed into events
	seen   int    // bytes of in already searched for an event end
	out    []byte // output ready for the reader
	blocks map[int]*blockStream
	buf    []byte
	done   bool
	// started and stopped track message_start and message_stop, to tell a
	// complete stream from one the upstream cut off
	started, stopped bool
}

type blockStream struct {
	s         *mask.Stream
	field     string // "text" or "partial_json"
	deltaType string // "text_delta" or "input_json_delta"
}

func newSSEUnmasker(src io.ReadCloser, e *mask.Engine, info *reqInfo) *sseUnmasker {
	return &sseUnmasker{src: src, e: e, info: info, blocks: map[int]*blockStream{}, buf: make([]byte, 32<<10)}
}

func (u *sseUnmasker) Read(b []byte) (int, error) {
	for len(u.out) == 0 {
		if u.done {
			return 0, io.EOF
		}
		if u.next() {
			// release together the events that arrived together: one write
			// (and one flush) per upstream read, not per event
			for len(u.out) < 64<<10 && u.next() {
			}
			continue
		}
		n, err := u.src.Read(u.buf)
		u.in = append(u.in, u.buf[:n]...)
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
	n := copy(b, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *sseUnmasker) Close() error { return u.src.Close() }

// next handles one complete event from the input, if there is one.
func (u *sseUnmasker) next() bool {
	end, sep := eventEnd(u.in, u.seen)
	if end < 0 {
		u.seen = max(len(u.in)-2, 0)
		return false
	}
	u.seen = 0
	ev, sepb := u.in[:end], u.in[end:end+sep]
	u.in = u.in[end+sep:]
	u.handle(ev, sepb)
	return true
}

// eventEnd finds the blank line that ends the first event: its offset and
// the length of the separator.
func eventEnd(b []byte, from int) (int, int) {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
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
	if len(bytes.TrimSpace(u.in)) > 0 {
		u.handle(u.in, []byte("\n"))
	}
	u.in = nil
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
	u.in = nil
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
	var lines [][]byte
	var data []byte
	dataLines := 0
	for _, l := range bytes.SplitAfter(ev, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		lines = append(lines, l)
		if v, ok := fieldValue(l, "data"); ok {
			if dataLines > 0 {
				data = append(data, '\n')
			}
			data = append(data, v...)
			dataLines++
		}
	}
	if dataLines == 0 {
		u.out = append(append(u.out, ev...), sep...)
		return
	}
	typ := stringField(data, "type")
	index := intField(data, "index")
	var pre []byte // events synthesized before this one (released held text)
	switch typ {
	case "message_start":
		u.started = true
	case "message_stop":
		u.stopped = true
	case "content_block_start":
		u.startBlock(index, stringField(data, "content_block", "type"))
	case "content_block_stop":
		pre = u.flushBlock(index)
	case "content_block_delta":
		switch dt := stringField(data, "delta", "type"); {
		case u.blocks[index] != nil && dt == u.blocks[index].deltaType:
			out, err := u.streamDelta(u.blocks[index], data)
			if err != nil {
				u.fail("could not unmask a delta")
				return
			}
			// the delta's text was the only content in the event
			u.writeEvent(lines, out, sep)
			return
		case dt == "thinking_delta" || dt == "signature_delta":
			u.writeEvent(lines, data, sep) // passes byte-identical
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
	u.writeEvent(lines, out, sep)
}

// writeEvent writes the event's lines with its data replaced.
func (u *sseUnmasker) writeEvent(lines [][]byte, data, sep []byte) {
	wrote := false
	for _, l := range lines {
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

func (u *sseUnmasker) startBlock(index int, typ string) {
	if index < 0 {
		return
	}
	switch typ {
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

// streamDelta feeds a delta's text (raw JSON string content) to the
// block's stream and puts what is ready in its place.
func (u *sseUnmasker) streamDelta(b *blockStream, data []byte) ([]byte, error) {
	a, z, ok := fieldRange(data, "delta", b.field)
	if !ok {
		return data, nil
	}
	ready, err := b.s.Write(data[a:z])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(data)-(z-a)+len(ready))
	out = append(out, data[:a]...)
	out = append(out, ready...)
	return append(out, data[z:]...), nil
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
