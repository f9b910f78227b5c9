package mask

import (
	"errors"
	"maps"
	"slices"
	"strconv"
)

// EventUnmasker restores the originals in a streamed Messages API answer,
// one event's data at a time. Text and tool input stream through one
// Stream per content block, so a pseudonym split over any number of
// deltas, or cut by an escape, is still restored; whatever a block holds
// back is released as one more delta before its content_block_stop.
// Thinking and signature deltas pass byte-identical; other events are
// restored as JSON (thinking blocks and structural fields untouched).
//
// An EventUnmasker is not safe for concurrent use; make one per stream.
type EventUnmasker struct {
	e      *Engine
	r      *Restore
	stats  Stats
	blocks map[int]*eventBlock
	// started and stopped track message_start and message_stop, to tell a
	// complete answer from one the upstream cut off
	started, stopped bool
	out              []byte
}

type eventBlock struct {
	s         *Stream
	field     string // "text" or "partial_json"
	deltaType string // "text_delta" or "input_json_delta"
}

// NewEventUnmasker returns an unmasker for one event stream that restores
// what r allows.
func (e *Engine) NewEventUnmasker(r *Restore, stats Stats) *EventUnmasker {
	return &EventUnmasker{e: e, r: r, stats: stats, blocks: map[int]*eventBlock{}}
}

// Emit receives an event the unmasker adds to the stream: its name and
// data.
type Emit func(name string, data []byte)

// Event rewrites the data of one event. Events to send before it (held
// text released at the end of a block) go to before. The returned data is
// valid until the next call.
func (u *EventUnmasker) Event(data []byte, before Emit) ([]byte, error) {
	f := readEvent(data)
	switch string(f.typ) {
	case "message_start":
		u.started = true
	case "message_stop":
		u.stopped = true
	case "content_block_start":
		u.startBlock(f.index, f.blockType)
	case "content_block_stop":
		if err := u.flushBlock(f.index, before); err != nil {
			return nil, err
		}
	case "content_block_delta":
		switch b := u.blocks[f.index]; {
		case b != nil && string(f.deltaType) == b.deltaType:
			a, z, ok := stringMember(data[:f.delta[1]], f.delta[0], b.field)
			if !ok {
				break
			}
			ready, err := b.s.Write(data[a:z])
			if err != nil {
				return nil, err
			}
			u.out = append(append(append(u.out[:0], data[:a]...), ready...), data[z:]...)
			return u.out, nil
		case string(f.deltaType) == "thinking_delta" || string(f.deltaType) == "signature_delta":
			return data, nil
		}
	}
	out, err := u.e.UnmaskJSON(data, BodyEvent, u.r, u.stats)
	if errors.Is(err, ErrInvalidJSON) {
		// not JSON after all (an upstream error in plain text)
		return u.e.UnmaskBytes(data, u.r, u.stats)
	}
	return out, err
}

// Finish releases what every open block still holds, in index order, at
// the end of the stream.
func (u *EventUnmasker) Finish(before Emit) error {
	for _, i := range slices.Sorted(maps.Keys(u.blocks)) {
		if err := u.flushBlock(i, before); err != nil {
			return err
		}
	}
	return nil
}

// Incomplete reports whether the answer began and never reached
// message_stop.
func (u *EventUnmasker) Incomplete() bool { return u.started && !u.stopped }

func (u *EventUnmasker) startBlock(index int, typ []byte) {
	if index < 0 {
		return
	}
	var b *eventBlock
	switch string(typ) {
	case "text":
		b = &eventBlock{field: "text", deltaType: "text_delta"}
	case "tool_use", "server_tool_use", "mcp_tool_use":
		b = &eventBlock{field: "partial_json", deltaType: "input_json_delta"}
	default:
		return
	}
	b.s = u.e.NewUnmasker(u.r, u.stats)
	if b.field == "partial_json" {
		b.s.InJSONString()
	} else {
		b.s.InString()
	}
	u.blocks[index] = b
}

// flushBlock releases what a block's stream held back, as one more delta.
func (u *EventUnmasker) flushBlock(index int, before Emit) error {
	b := u.blocks[index]
	if b == nil {
		return nil
	}
	delete(u.blocks, index)
	rest, err := b.s.Flush()
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return nil
	}
	ev := append([]byte(nil), `{"type":"content_block_delta","index":`...)
	ev = strconv.AppendInt(ev, int64(index), 10)
	ev = append(ev, `,"delta":{"type":"`...)
	ev = append(ev, b.deltaType...)
	ev = append(ev, `","`...)
	ev = append(ev, b.field...)
	ev = append(ev, `":"`...)
	ev = append(ev, rest...)
	ev = append(ev, `"}}`...)
	before("content_block_delta", ev)
	return nil
}

// event is what the unmasker reads from an event's data, in one walk over
// its top-level members.
type event struct {
	typ, blockType, deltaType []byte
	index                     int
	delta                     [2]int // the delta object's range
}

func readEvent(data []byte) event {
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

// stringAt returns the raw content of the string member key of the object
// at data[p:], or nil.
func stringAt(data []byte, p int, key string) []byte {
	if a, z, ok := stringMember(data, p, key); ok {
		return data[a:z]
	}
	return nil
}

// stringMember returns the content range of the string member key of the
// object at data[p:].
func stringMember(data []byte, p int, key string) (int, int, bool) {
	a, z, found := 0, 0, false
	members(data, p, func(k []byte, va, vz int) bool {
		if string(k) == key {
			a, z, found = va, vz, true
		}
		return !found
	})
	if !found {
		return 0, 0, false
	}
	return stringContent(data, a, z)
}

// stringContent returns the content range of a string value at data[a:z].
func stringContent(data []byte, a, z int) (int, int, bool) {
	if z-a < 2 || data[a] != '"' || data[z-1] != '"' {
		return 0, 0, false
	}
	return a + 1, z - 1, true
}

// smallInt parses a small non-negative integer, or returns -1.
func smallInt(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// members calls fn with the raw key and the value range of each member of
// the object at data[p:], in order, until fn returns false. It stops at
// the first thing that is not valid JSON.
func members(data []byte, p int, fn func(key []byte, a, z int) bool) {
	p = skipWS(data, p)
	if p >= len(data) || data[p] != '{' {
		return
	}
	p = skipWS(data, p+1)
	for p < len(data) && data[p] == '"' {
		ke, err := stringEnd(data, p)
		if err != nil {
			return
		}
		key := data[p+1 : ke-1]
		p = skipWS(data, ke)
		if p >= len(data) || data[p] != ':' {
			return
		}
		p = skipWS(data, p+1)
		e := skipValue(data, p, 0)
		if e <= p {
			return
		}
		if !fn(key, p, e) {
			return
		}
		p = skipWS(data, e)
		if p < len(data) && data[p] == ',' {
			p = skipWS(data, p+1)
		}
	}
}

// skipValue returns the position after the value at b[p], or -1; it
// checks strings and nesting only, which is all members needs.
func skipValue(b []byte, p, depth int) int {
	if p >= len(b) || depth > maxDepth {
		return -1
	}
	switch b[p] {
	case '"':
		q, err := stringEnd(b, p)
		if err != nil {
			return -1
		}
		return q
	case '{', '[':
		close := byte('}')
		if b[p] == '[' {
			close = ']'
		}
		q := skipWS(b, p+1)
		for q < len(b) && b[q] != close {
			switch b[q] {
			case ',', ':':
				q = skipWS(b, q+1)
				continue
			}
			e := skipValue(b, q, depth+1)
			if e <= q {
				return -1
			}
			q = skipWS(b, e)
		}
		if q >= len(b) {
			return -1
		}
		return q + 1
	}
	q := p
	for q < len(b) && b[q] != ',' && b[q] != '}' && b[q] != ']' && b[q] != ' ' && b[q] != '\n' && b[q] != '\r' && b[q] != '\t' {
		q++
	}
	if q == p {
		return -1 // a closing bracket where a value should be
	}
	return q
}
