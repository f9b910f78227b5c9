package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/claude-secure/claude-secure/mask"
)

// An event stream frame (application/vnd.amazon.eventstream) starts with a
// prelude: its total length, its headers' length and a CRC32 of those
// eight bytes; a CRC32 of everything before it ends the frame.
const (
	preludeSize = 12
	frameMin    = preludeSize + 4
)

// The headers of the frames Bedrock streams an answer in: a chunk carries
// one Messages API event, base64-encoded, in a JSON payload.
var (
	chunkHeaders = eventstream.Headers{
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("event")},
	}
	exceptionHeaders = eventstream.Headers{
		{Name: ":exception-type", Value: eventstream.StringValue("internalServerException")},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("exception")},
	}
)

// eventStreamUnmasker is sseUnmasker for Bedrock's streamed answers: it
// reads the binary frames as they arrive, runs the Messages API event each
// chunk carries through a mask.EventUnmasker, and writes every event that
// comes out (those the unmasker adds too) as a chunk frame of its own.
// Other frames, exceptions among them, pass byte for byte. A frame that
// cannot be read ends the stream with an exception frame of ours.
type eventStreamUnmasker struct {
	src io.ReadCloser
	// what an exception's message may restore
	e       *mask.Engine
	restore *mask.Restore
	stats   mask.Stats
	eu      *mask.EventUnmasker
	enc     *eventstream.Encoder
	// in[start:] is input not yet parsed into frames
	in       []byte
	start    int
	readSize int
	// out[outPos:] is output ready for the reader
	out    frameBuf
	outPos int
	done   bool
	before mask.Emit
	// upstreamError: an exception frame came from the upstream, which
	// already told the client the answer is cut short
	upstreamError bool

	hdr   []byte // the encoded headers of the chunk frames written
	event []byte // scratch: the event a chunk carries
	chunk []byte // scratch: a chunk payload being written
}

// frameBuf collects encoded frames.
type frameBuf []byte

func (b *frameBuf) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

func newEventStreamUnmasker(src io.ReadCloser, e *mask.Engine, info *reqInfo) *eventStreamUnmasker {
	u := &eventStreamUnmasker{
		src:      src,
		e:        e,
		restore:  info.restoreSet(e),
		stats:    info.unmasked,
		eu:       e.NewEventUnmasker(info.restoreSet(e), info.unmasked),
		enc:      eventstream.NewEncoder(),
		readSize: minRead,
	}
	u.hdr = encodeHeaders(chunkHeaders)
	u.before = func(_ string, data []byte) { u.writeChunk(data) }
	return u
}

// fill makes output ready: it handles the frames already in the input and,
// if none is complete, reads more. It returns false at the end.
func (u *eventStreamUnmasker) fill() bool {
	if u.outPos == len(u.out) {
		u.out, u.outPos = u.out[:0], 0
	}
	for u.outPos == len(u.out) {
		if u.done {
			return false
		}
		if u.next() {
			// one write (and one flush) per upstream read, as for SSE
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
		if errors.Is(err, io.EOF) {
			u.finish()
		} else if err != nil {
			u.fail("upstream stream failed")
		}
	}
	return true
}

func (u *eventStreamUnmasker) Read(b []byte) (int, error) {
	if !u.fill() {
		return 0, io.EOF
	}
	n := copy(b, u.out[u.outPos:])
	u.outPos += n
	return n, nil
}

// WriteTo hands each batch of frames to w as it is ready, without a copy;
// the proxy's copy loop flushes after each write.
func (u *eventStreamUnmasker) WriteTo(w io.Writer) (int64, error) {
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

func (u *eventStreamUnmasker) Close() error { return u.src.Close() }

// next handles one complete frame from the input, if there is one. It
// checks the prelude as soon as it has arrived, so a damaged or oversized
// frame ends the stream without waiting for the bytes it claims.
func (u *eventStreamUnmasker) next() bool {
	if u.done {
		return false
	}
	in := u.in[u.start:]
	if len(in) < preludeSize {
		return false
	}
	total := binary.BigEndian.Uint32(in)
	headers := binary.BigEndian.Uint32(in[4:])
	switch {
	case crc32.ChecksumIEEE(in[:8]) != binary.BigEndian.Uint32(in[8:]):
		u.end("upstream sent a damaged event stream frame (prelude checksum mismatch)")
		return true
	case total < frameMin || headers > total-frameMin:
		u.end("upstream sent an event stream frame with impossible lengths")
		return true
	case total > maxEvent:
		u.end("an event stream frame is larger than 16 MiB")
		return true
	case len(in) < int(total):
		return false
	}
	u.start += int(total)
	u.handle(in[:total])
	return true
}

// handle rewrites one whole frame and appends the result to the output.
func (u *eventStreamUnmasker) handle(frame []byte) {
	f, err := readFrame(frame)
	if err != nil {
		u.end(err.Error())
		return
	}
	switch string(f.messageType) {
	case "event":
		if string(f.eventType) == "chunk" {
			// the frame's own headers, as encoded, go on the frames
			// written for it
			u.hdr = append(u.hdr[:0], f.headers...)
			u.handleChunk(f.payload)
			return
		}
	case "exception", "error":
		// the upstream ends the answer: what the unmasker holds goes
		// first, then its own words on why
		if err := u.eu.Finish(u.before); err != nil {
			u.exception("could not unmask the end of the answer")
			return
		}
		u.upstreamError = true
		// its message may quote the request: restored, as the SSE
		// path restores an error event
		if out, err := u.e.UnmaskJSON(f.payload, mask.BodyAny, u.restore, u.stats); err == nil && !bytes.Equal(out, f.payload) {
			u.out = appendFrame(u.out, f.headers, out)
			return
		}
	}
	u.out = append(u.out, frame...)
}

// frame is one event stream frame, read: its encoded headers, the two
// headers that say what it is, and its payload.
type streamFrame struct {
	headers, payload       []byte
	messageType, eventType []byte
}

// errFrame says why a frame cannot be read (the stream ends with it).
type errFrame string

func (e errFrame) Error() string { return string(e) }

// readFrame reads a whole frame whose prelude was checked: its message
// CRC, then its headers (name, type, value; the two that say what the
// frame is are strings). It reads what the SDK's decoder reads, without
// allocating, on the path every streamed event takes.
func readFrame(b []byte) (streamFrame, error) {
	var f streamFrame
	n := len(b)
	if crc32.ChecksumIEEE(b[:n-4]) != binary.BigEndian.Uint32(b[n-4:]) {
		return f, errFrame("upstream sent a damaged event stream frame (checksum mismatch)")
	}
	hlen := int(binary.BigEndian.Uint32(b[4:]))
	f.headers = b[preludeSize : preludeSize+hlen]
	f.payload = b[preludeSize+hlen : n-4]
	h := f.headers
	for len(h) > 0 {
		nl := int(h[0])
		if 1+nl+1 > len(h) {
			return f, errFrame("upstream sent an event stream frame that cannot be read")
		}
		name := h[1 : 1+nl]
		typ := h[1+nl]
		h = h[2+nl:]
		var size int
		switch typ {
		case 0, 1: // true, false
		case 2: // byte
			size = 1
		case 3: // int16
			size = 2
		case 4: // int32
			size = 4
		case 5, 8: // int64, timestamp
			size = 8
		case 9: // uuid
			size = 16
		case 6, 7: // bytes, string: a 16-bit length first
			if len(h) < 2 {
				return f, errFrame("upstream sent an event stream frame that cannot be read")
			}
			size = 2 + int(binary.BigEndian.Uint16(h))
		default:
			return f, errFrame("upstream sent an event stream frame that cannot be read")
		}
		if size > len(h) {
			return f, errFrame("upstream sent an event stream frame that cannot be read")
		}
		if typ == 7 {
			switch string(name) {
			case ":message-type":
				f.messageType = h[2:size]
			case ":event-type":
				f.eventType = h[2:size]
			}
		}
		h = h[size:]
	}
	return f, nil
}

// handleChunk unmasks the event a chunk frame's payload carries.
func (u *eventStreamUnmasker) handleChunk(payload []byte) {
	event, ok := u.chunkEvent(payload)
	if !ok {
		u.end("upstream sent a chunk that is not base64-encoded JSON")
		return
	}
	out, err := u.eu.Event(event, u.before)
	if err != nil {
		u.exception("could not unmask an event")
		return
	}
	if len(out) > 0 {
		u.writeChunk(out)
	}
}

// chunkEvent decodes the event a chunk's payload carries. Bedrock writes
// {"bytes":"<base64>","p":"<padding>"}, which is read here directly; any
// other JSON object with a bytes member goes through encoding/json.
func (u *eventStreamUnmasker) chunkEvent(payload []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(payload, []byte(`{"bytes":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 && plainChunkEnd(rest[i+1:]) {
			ev, err := base64.StdEncoding.AppendDecode(u.event[:0], rest[:i])
			if err == nil {
				u.event = ev
				return ev, true
			}
			// an escape in the base64, or no base64 at all: encoding/json
			// tells which
		}
	}
	var c struct {
		Bytes []byte `json:"bytes"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Bytes == nil {
		return nil, false
	}
	return c.Bytes, true
}

// plainChunkEnd reports whether b, what follows a chunk's bytes member,
// is `}` or a padding member and `}`, with nothing to unescape.
func plainChunkEnd(b []byte) bool {
	if p, ok := bytes.CutPrefix(b, []byte(`,"p":"`)); ok {
		i := bytes.IndexByte(p, '"')
		if i < 0 || bytes.IndexByte(p[:i], '\\') >= 0 {
			return false
		}
		b = p[i+1:]
	}
	return string(b) == "}"
}

// writeChunk appends a chunk frame carrying one event.
func (u *eventStreamUnmasker) writeChunk(event []byte) {
	u.chunk = append(u.chunk[:0], `{"bytes":"`...)
	u.chunk = base64.StdEncoding.AppendEncode(u.chunk, event)
	u.chunk = append(u.chunk, `"}`...)
	u.out = appendFrame(u.out, u.hdr, u.chunk)
}

// appendFrame appends a frame with the encoded headers hdr and payload:
// the prelude (total and header lengths, their CRC32), the headers, the
// payload and the CRC32 of all that.
func appendFrame(dst, hdr, payload []byte) []byte {
	start := len(dst)
	total := preludeSize + len(hdr) + len(payload) + 4
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(hdr)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	dst = append(dst, hdr...)
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// encodeHeaders encodes hs as a frame's headers (with the SDK's encoder:
// off the hot path).
func encodeHeaders(hs eventstream.Headers) []byte {
	var frame bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&frame, eventstream.Message{Headers: hs}); err != nil {
		panic(err) // constant headers of ours
	}
	b := frame.Bytes()
	return b[preludeSize : preludeSize+binary.BigEndian.Uint32(b[4:])]
}

// finish ends the stream at the upstream's EOF.
func (u *eventStreamUnmasker) finish() {
	for u.next() {
		// a last read may carry several frames along with EOF
	}
	if u.done {
		return
	}
	// a frame the upstream cut short is not a frame: none of it is
	// released
	cut := len(u.in) > u.start
	u.in, u.start = nil, 0
	if err := u.eu.Finish(u.before); err != nil {
		u.exception("could not unmask the end of the answer")
	} else if cut {
		u.exception("upstream ended the stream in the middle of a frame")
	} else if u.eu.Incomplete() && !u.upstreamError {
		u.exception("upstream ended the stream before message_stop")
	}
	u.done = true
}

// fail ends the stream after the frames that did arrive whole.
func (u *eventStreamUnmasker) fail(why string) {
	for u.next() {
	}
	u.end(why)
}

// end releases what the unmasker holds and ends the stream with an
// exception; nothing more is read.
func (u *eventStreamUnmasker) end(why string) {
	if !u.done {
		u.eu.Finish(u.before)
		u.exception(why)
	}
	u.in, u.start = nil, 0
}

// exception appends an exception frame of our own and ends the stream.
func (u *eventStreamUnmasker) exception(why string) {
	if u.done {
		return
	}
	u.done = true
	payload, _ := json.Marshal(map[string]string{"message": "claude-secure: " + why})
	u.enc.Encode(&u.out, eventstream.Message{Headers: exceptionHeaders, Payload: payload})
}
