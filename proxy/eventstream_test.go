package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/claude-secure/claude-secure/mask"
)

// frame encodes one event stream frame.
func frame(t testing.TB, headers eventstream.Headers, payload []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, eventstream.Message{Headers: headers, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// chunk is the frame Bedrock streams one Messages API event in, padded as
// Bedrock pads it.
func chunk(t testing.TB, event []byte) []byte {
	p, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(event), "p": strings.Repeat("abcdefghij", len(event)%7)})
	return frame(t, chunkHeaders, p)
}

func exceptionFrame(t testing.TB, typ, message string) []byte {
	p, _ := json.Marshal(map[string]string{"message": message})
	return frame(t, eventstream.Headers{
		{Name: ":exception-type", Value: eventstream.StringValue(typ)},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("exception")},
	}, p)
}

// sseData is the data of each event of an SSE stream, in order.
func sseData(t testing.TB, sse []byte) [][]byte {
	var out [][]byte
	for _, ev := range bytes.Split(sse, []byte("\n\n")) {
		for _, l := range bytes.Split(ev, []byte("\n")) {
			if d, ok := bytes.CutPrefix(l, []byte("data: ")); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// toEventStream carries the events of an SSE stream as Bedrock would.
func toEventStream(t testing.TB, sse []byte) []byte {
	var b []byte
	for _, d := range sseData(t, sse) {
		b = append(b, chunk(t, d)...)
	}
	return b
}

// esFrame is one frame read back from our output: a chunk's event, or
// another frame's message type, exception type and payload.
type esFrame struct {
	event                     string // a chunk's decoded event
	msgType, excType, payload string
	raw                       []byte
	headers                   eventstream.Headers
}

// readFrames decodes a whole event stream, failing on anything that is
// not a well-formed frame.
func readFrames(t testing.TB, b []byte) []esFrame {
	t.Helper()
	var out []esFrame
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		start := len(b) - r.Len()
		msg, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("output frame at byte %d: %v", start, err)
		}
		f := esFrame{raw: b[start : len(b)-r.Len()], headers: msg.Headers,
			msgType: headerString(msg.Headers, ":message-type"), excType: headerString(msg.Headers, ":exception-type")}
		if f.msgType == "event" && headerString(msg.Headers, ":event-type") == "chunk" {
			var c struct {
				Bytes []byte `json:"bytes"`
			}
			if err := json.Unmarshal(msg.Payload, &c); err != nil || c.Bytes == nil {
				t.Fatalf("output chunk at byte %d: %q", start, msg.Payload)
			}
			f.event = string(c.Bytes)
		} else {
			f.payload = string(msg.Payload)
		}
		out = append(out, f)
	}
	return out
}

// events is the events the chunks carry; others frames are named by
// their message and exception types.
func events(fs []esFrame) []string {
	var out []string
	for _, f := range fs {
		if f.msgType == "event" && f.excType == "" && f.event != "" {
			out = append(out, f.event)
		} else {
			out = append(out, f.msgType+"/"+f.excType+" "+f.payload)
		}
	}
	return out
}

// unmaskTestEngine is an engine whose store issued the pseudonyms of
// clientText, and the restore set of a request that carried it.
func unmaskTestEngine(t testing.TB) (e *mask.Engine, masked string, restore *mask.Restore) {
	e, err := mask.New([]byte("eventstream"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := e.MaskBytes([]byte(clientText), nil)
	_, restore, err = e.MaskRequest(requestBody(clientText), mask.BodyMessages, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, string(m), restore
}

func testInfo(restore *mask.Restore) *reqInfo {
	return &reqInfo{masked: mask.Stats{}, unmasked: mask.Stats{}, restore: restore}
}

func unmaskES(t testing.TB, e *mask.Engine, restore *mask.Restore, r io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := io.Copy(&out, newEventStreamUnmasker(io.NopCloser(r), e, testInfo(restore))); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func unmaskSSE(t testing.TB, e *mask.Engine, restore *mask.Restore, r io.Reader) [][]byte {
	t.Helper()
	out, err := io.ReadAll(newSSEUnmasker(io.NopCloser(r), e, testInfo(restore)))
	if err != nil {
		t.Fatal(err)
	}
	return sseData(t, out)
}

// TestEventStreamRestoresAsSSE: the same answer, its text and tool input
// cut at every byte, comes out of the event stream path as the same
// events as out of the SSE path, read in pieces of any size.
func TestEventStreamRestoresAsSSE(t *testing.T) {
	e, masked, restore := unmaskTestEngine(t)
	wantJSON := toolJSONFor(clientText)
	for cut := 0; cut <= len(toolJSONFor(masked)); cut++ {
		sse := script(masked, toolJSONFor(masked), []int{cut, cut + 1}, []int{cut, cut + 3})
		want := unmaskSSE(t, e, restore, bytes.NewReader(sse))
		info := testInfo(restore)
		u := newEventStreamUnmasker(io.NopCloser(&chunkReader{b: toEventStream(t, sse), n: 1 + cut%53}), e, info)
		out, err := io.ReadAll(u)
		if err != nil {
			t.Fatal(err)
		}
		got := readFrames(t, out)
		if len(got) != len(want) {
			t.Fatalf("cut %d: %d frames, the SSE path gives %d events", cut, len(got), len(want))
		}
		var text, tool strings.Builder
		for i, f := range got {
			if f.event != string(want[i]) {
				t.Fatalf("cut %d: event %d is %.80q, the SSE path gives %.80q", cut, i, f.event, want[i])
			}
			var d struct {
				Delta struct{ Type, Text, PartialJSON string } `json:"delta"`
			}
			var raw struct {
				Delta map[string]string `json:"delta"`
			}
			json.Unmarshal([]byte(f.event), &d)
			json.Unmarshal([]byte(f.event), &raw)
			switch d.Delta.Type {
			case "text_delta":
				text.WriteString(raw.Delta["text"])
			case "input_json_delta":
				tool.WriteString(raw.Delta["partial_json"])
			}
		}
		if text.String() != clientText || tool.String() != wantJSON {
			t.Fatalf("cut %d: text or tool input not restored", cut)
		}
		if info.unmasked["ec2-instance"] == 0 {
			t.Fatalf("cut %d: unmasked stats not counted: %v", cut, info.unmasked)
		}
	}
}

// TestEventStreamPassesThinkingByteIdentical: every event other than text
// and tool-input deltas comes through byte for byte, each in a frame with
// the headers of its own.
func TestEventStreamPassesThinkingByteIdentical(t *testing.T) {
	e, masked, restore := unmaskTestEngine(t)
	sse := script(masked, toolJSONFor(masked), []int{7}, []int{9})
	sent := sseData(t, sse)
	got := readFrames(t, unmaskES(t, e, restore, bytes.NewReader(toEventStream(t, sse))))
	var thinking, sig int
	rest := got
	for i, f := range got {
		if !equalHeaders(f.headers, chunkHeaders) {
			t.Errorf("frame %d headers %v", i, f.headers)
		}
	}
	for _, ev := range sent {
		if bytes.Contains(ev, []byte(`"text_delta"`)) || bytes.Contains(ev, []byte(`"input_json_delta"`)) {
			continue
		}
		k := slices.IndexFunc(rest, func(f esFrame) bool { return f.event == string(ev) })
		if k < 0 {
			t.Fatalf("an event changed or moved: %.80q", ev)
		}
		rest = rest[k+1:]
		if bytes.Contains(ev, []byte(`"thinking_delta"`)) && bytes.Contains(ev, []byte(masked)) {
			thinking++
		}
		if bytes.Contains(ev, []byte(`"signature":"`+signature+`"`)) {
			sig++
		}
	}
	if thinking != 1 || sig != 1 {
		t.Errorf("thinking %d, signature %d: want each once, as sent", thinking, sig)
	}
}

func equalHeaders(a, b eventstream.Headers) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value.String() != b[i].Value.String() {
			return false
		}
	}
	return true
}

// heldStream is an answer whose text block ends its last whole delta in
// the middle of a pseudonym, so the unmasker holds part of it back.
func heldStream(t testing.TB, masked string) (head []byte, tail string) {
	var b []byte
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[]}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	} {
		b = append(b, chunk(t, []byte(ev))...)
	}
	// the text up to the middle of the instance's pseudonym
	k := strings.Index(masked, "i-") + 6
	d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": masked[:k]}})
	return append(b, chunk(t, d)...), masked[k:]
}

// TestEventStreamPassesExceptions: an exception from the upstream comes
// through byte for byte, after what the unmasker held, and ends the
// answer without an exception of ours; a frame of another kind passes
// where it came.
func TestEventStreamPassesExceptions(t *testing.T) {
	e, masked, restore := unmaskTestEngine(t)
	head, _ := heldStream(t, masked)
	other := frame(t, eventstream.Headers{
		{Name: ":event-type", Value: eventstream.StringValue("metadata")},
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: "x-count", Value: eventstream.Int32Value(7)},
	}, []byte("not json"))
	for _, typ := range []string{"throttlingException", "validationException", "modelStreamErrorException", "internalServerException"} {
		exc := exceptionFrame(t, typ, "Too many requests, please wait before trying again.")
		up := append(append(append([]byte(nil), other...), head...), exc...)
		out := unmaskES(t, e, restore, &chunkReader{b: up, n: 5})
		got := readFrames(t, out)
		if !bytes.Equal(got[0].raw, other) {
			t.Errorf("%s: the metadata frame changed or moved", typ)
		}
		last := got[len(got)-1]
		if !bytes.Equal(last.raw, exc) {
			t.Fatalf("%s: last frame %s/%s %q, want the upstream's exception as sent", typ, last.msgType, last.excType, last.payload)
		}
		// the held part of the pseudonym was released just before it, as
		// the SSE path releases it at the end
		i := strings.Index(masked, "i-")
		if held := got[len(got)-2].event; !strings.Contains(held, `"text":"`+masked[i:i+6]+`"`) {
			t.Errorf("%s: the frame before the exception is %q, want the held text", typ, held)
		}
		var text string
		for _, f := range got {
			var d struct {
				Delta struct{ Text string } `json:"delta"`
			}
			json.Unmarshal([]byte(f.event), &d)
			text += d.Delta.Text
		}
		k := strings.Index(masked, "i-") + 6
		if want := strings.Replace(masked[:k], masked[:strings.Index(masked, "i-")], clientText[:strings.Index(clientText, "i-")], 1); text != want {
			t.Errorf("%s: released text %q, want %q", typ, text, want)
		}
	}
}

// TestEventStreamDamageEndsWithException: a frame that cannot be read ends
// the stream with an exception of ours; nothing of it is released, and
// what came before is released as the SSE path releases the same events
// when the upstream fails there.
func TestEventStreamDamageEndsWithException(t *testing.T) {
	e, masked, restore := unmaskTestEngine(t)
	head, tail := heldStream(t, masked)
	d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": "cut: " + tail}})
	next := chunk(t, d)
	corrupt := func(i int) []byte {
		b := append([]byte(nil), next...)
		b[i] ^= 0x20
		return b
	}
	huge := binary.BigEndian.AppendUint32(nil, maxEvent+1)
	huge = binary.BigEndian.AppendUint32(huge, 0)
	huge = binary.BigEndian.AppendUint32(huge, crc32.ChecksumIEEE(huge))
	badLens := binary.BigEndian.AppendUint32(nil, 20)
	badLens = binary.BigEndian.AppendUint32(badLens, 10)
	badLens = binary.BigEndian.AppendUint32(badLens, crc32.ChecksumIEEE(badLens))
	for _, c := range []struct {
		name string
		rest []byte
		err  error // a read error after rest
		why  string
	}{
		{"bad message crc", corrupt(len(next) - 2), nil, "checksum mismatch"},
		{"bad payload byte", corrupt(len(next) - 20), nil, "checksum mismatch"},
		{"bad prelude crc", corrupt(2), nil, "prelude checksum"},
		{"impossible lengths", append(badLens, make([]byte, 8)...), nil, "impossible lengths"},
		{"too large", huge, nil, "larger than 16 MiB"},
		{"cut frame", next[:len(next)-5], nil, "middle of a frame"},
		{"cut prelude", next[:7], nil, "middle of a frame"},
		{"not base64", frame(t, chunkHeaders, []byte(`{"bytes":"!!not base64!!","p":"ab"}`)), nil, "not base64-encoded JSON"},
		{"not json", frame(t, chunkHeaders, []byte(`bytes=abc`)), nil, "not base64-encoded JSON"},
		{"no bytes", frame(t, chunkHeaders, []byte(`{"p":"abc"}`)), nil, "not base64-encoded JSON"},
		{"read error", next[:9], errors.New("connection reset"), "upstream stream failed"},
		{"ends early", nil, nil, "before message_stop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := append(append(append([]byte(nil), head...), c.rest...), next...)
			if c.err != nil || strings.HasPrefix(c.name, "cut") || c.rest == nil {
				up = append(append([]byte(nil), head...), c.rest...) // nothing after
			}
			src := io.MultiReader(&chunkReader{b: up, n: 3}, &errReader{c.err})
			got := events(readFrames(t, unmaskES(t, e, restore, src)))
			last := got[len(got)-1]
			if !strings.HasPrefix(last, `exception/internalServerException {"message":"claude-secure: `) || !strings.Contains(last, c.why) {
				t.Fatalf("last frame %q, want our exception for %q", last, c.why)
			}
			for _, ev := range got {
				if strings.Contains(ev, "cut: ") {
					t.Fatal("the damaged frame's text was released")
				}
			}
			// the SSE path, given the same whole events and then a
			// failure, releases the same
			var sse bytes.Buffer
			for _, f := range readFrames(t, head) {
				fmt.Fprintf(&sse, "data: %s\n\n", f.event)
			}
			want := unmaskSSE(t, e, restore, io.MultiReader(&sse, &errReader{errors.New("cut")}))
			if len(want) != len(got) {
				t.Fatalf("%d frames, the SSE path gives %d events", len(got), len(want))
			}
			for i := range len(want) - 1 {
				if got[i] != string(want[i]) {
					t.Errorf("event %d: %.80q, the SSE path gives %.80q", i, got[i], want[i])
				}
			}
		})
	}
}

// errReader fails with err, or ends with io.EOF if err is nil.
type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// sizedReader returns its bytes in reads of the sizes given, in turn.
type sizedReader struct {
	b     []byte
	sizes []byte
	i     int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.sizes) > 0 {
		n = 1 + int(r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = copy(p, r.b[:min(n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

// FuzzEventStreamBoundaries: the same frames, split at any read
// boundaries, give the same output as when they arrive in one read.
func FuzzEventStreamBoundaries(f *testing.F) {
	e, masked, restore := unmaskTestEngine(f)
	whole := toEventStream(f, script(masked, toolJSONFor(masked), []int{5, 17, 18}, []int{3, 30, 31}))
	head, tail := heldStream(f, masked)
	d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": tail + " and more"}})
	next := chunk(f, d)
	damaged := append([]byte(nil), next...)
	damaged[len(damaged)-9] ^= 1
	streams := [][]byte{
		whole,
		append(append([]byte(nil), head...), exceptionFrame(f, "throttlingException", "slow down")...),
		append(append(append([]byte(nil), head...), damaged...), next...),
		append(append([]byte(nil), head...), next[:len(next)-3]...),
		append(append(append([]byte(nil), head...), next...), frame(f, chunkHeaders, []byte(`{"bytes":"e30=!"}`))...),
		append(frame(f, eventstream.Headers{{Name: ":message-type", Value: eventstream.StringValue("event")}, {Name: ":event-type", Value: eventstream.StringValue("initial-response")}}, []byte("{}")), whole...),
	}
	f.Add([]byte{0}, uint8(0))
	f.Add([]byte{6, 200, 1, 0, 33}, uint8(0))
	f.Add([]byte{11, 2}, uint8(1))
	f.Add([]byte{3, 3, 255}, uint8(2))
	f.Add([]byte{1}, uint8(3))
	f.Add([]byte{40, 7}, uint8(4))
	f.Add([]byte{13}, uint8(5))
	want := make([][]byte, len(streams))
	for i, s := range streams {
		want[i] = unmaskES(f, e, restore, bytes.NewReader(s))
	}
	f.Fuzz(func(t *testing.T, sizes []byte, variant uint8) {
		i := int(variant) % len(streams)
		got := unmaskES(t, e, restore, &sizedReader{b: streams[i], sizes: sizes})
		if !slices.Equal(events(readFrames(t, got)), events(readFrames(t, want[i]))) {
			t.Fatal("the events differ from those of the stream read at once")
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("the output differs at byte %d", firstDiffBytes(got, want[i]))
		}
	})
}

// BenchmarkUnmaskEventStream2000 is BenchmarkUnmaskEvents2000 with the
// same 2,000 events carried in Bedrock's event stream frames: the cost of
// the framing on top of the unmasking.
func BenchmarkUnmaskEventStream2000(b *testing.B) {
	e, _ := mask.New([]byte("bench"), mask.NewMemoryMappings(), nil)
	start := []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	masked := chunk(b, start)
	want := []string{string(start)}
	var all bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&all, "instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256)
	}
	_, restore, err := e.MaskRequest(requestBody(all.String()), mask.BodyMessages, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		orig := fmt.Sprintf("instance i-%017x is at 10.0.%d.%d; ", i, i/256, i%256)
		text, _ := e.MaskBytes([]byte(orig), nil)
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": string(text)}})
		masked = append(masked, chunk(b, d)...)
		d, _ = json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": orig}})
		want = append(want, string(d))
	}
	b.SetBytes(int64(len(masked)))
	var got bytes.Buffer
	for b.Loop() {
		got.Reset()
		u := newEventStreamUnmasker(io.NopCloser(bytes.NewReader(masked)), e, testInfo(restore))
		if _, err := io.Copy(&got, u); err != nil {
			b.Fatal(err)
		}
	}
	if !slices.Equal(events(readFrames(b, got.Bytes())), want) {
		b.Fatal("the unmasked stream differs from the originals")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/event")
}

// TestEventStreamChunkPayloadShapes: a chunk's payload is read as JSON,
// whatever the order of its members or the escapes in them.
func TestEventStreamChunkPayloadShapes(t *testing.T) {
	e, _, restore := unmaskTestEngine(t)
	ev := `{"type":"ping"}`
	b64 := base64.StdEncoding.EncodeToString([]byte(ev))
	for _, p := range []string{
		`{"bytes":"` + b64 + `"}`,
		`{"bytes":"` + b64 + `","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}`,
		`{"p":"abc","bytes":"` + b64 + `"}`,
		`{ "bytes" : "` + b64 + `" , "p" : "x" }`,
		`{"bytes":"` + strings.ReplaceAll(b64, "=", `\u003d`) + `","p":"a\"b"}`,
		`{"bytes":"` + b64 + `","p":"a\"b"}`,
	} {
		got := readFrames(t, unmaskES(t, e, restore, bytes.NewReader(frame(t, chunkHeaders, []byte(p)))))
		if len(got) != 1 || got[0].event != ev {
			t.Errorf("payload %s: got %v", p, events(got))
		}
	}
	for _, p := range []string{`{"bytes":"` + b64 + `"`, `{"bytes":"` + b64 + `"}x`, `{"bytes":"` + b64[1:] + `"}`, `{"bytes":null}`, `[]`, ``} {
		got := events(readFrames(t, unmaskES(t, e, restore, bytes.NewReader(frame(t, chunkHeaders, []byte(p))))))
		if len(got) != 1 || !strings.Contains(got[0], "not base64-encoded JSON") {
			t.Errorf("payload %s: got %v, want our exception", p, got)
		}
	}
}

// headerString is the value of a string header, or "".
func headerString(hs eventstream.Headers, name string) string {
	s, _ := hs.Get(name).(eventstream.StringValue)
	return string(s)
}

// readFrame reads what the SDK's decoder reads: it accepts every frame
// the SDK's encoder makes (headers of every type), never accepts one the
// SDK refuses (one byte changed, with or without a checksum to match),
// and where both accept they agree on the payload and on what the frame
// is.
func FuzzReadFrameAgreesWithSDK(f *testing.F) {
	f.Add("chunk", "event", []byte(`{"bytes":"e30="}`), uint16(0), byte(0))
	f.Add("x", "exception", []byte(`{"message":"m"}`), uint16(20), byte(0x40))
	f.Fuzz(func(t *testing.T, eventType, messageType string, payload []byte, flipAt uint16, flip byte) {
		if len(eventType) > 200 || len(messageType) > 200 || len(payload) > 4096 {
			return
		}
		var buf bytes.Buffer
		err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{Headers: eventstream.Headers{
			{Name: ":event-type", Value: eventstream.StringValue(eventType)},
			{Name: "flag", Value: eventstream.BoolValue(true)},
			{Name: "n", Value: eventstream.Int64Value(7)},
			{Name: "b", Value: eventstream.BytesValue(payload[:len(payload)/2])},
			{Name: "u", Value: eventstream.UUIDValue{1, 2, 3}},
			{Name: ":message-type", Value: eventstream.StringValue(messageType)},
		}, Payload: payload})
		if err != nil {
			return
		}
		b := buf.Bytes()
		if flip != 0 {
			i := int(flipAt) % len(b)
			if i < preludeSize {
				return // a damaged prelude is refused before either reads
			}
			b[i] ^= flip
			if flipAt%2 == 1 && i < len(b)-4 {
				// a frame whose checksum is right for its changed
				// bytes: the headers themselves are read
				binary.BigEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
			}
		}
		msg, sdkErr := eventstream.NewDecoder().Decode(bytes.NewReader(b), nil)
		got, err := readFrame(b)
		switch {
		case err == nil && sdkErr != nil:
			t.Fatalf("readFrame reads a frame the SDK refuses: %v", sdkErr)
		case err != nil && sdkErr == nil && flip == 0:
			t.Fatalf("readFrame refuses a frame the SDK's encoder made: %v", err)
		case err != nil:
			// a changed frame the SDK reads leniently (it stops at
			// headers cut short) may be refused: the stream then ends
			return
		}
		if !bytes.Equal(got.payload, msg.Payload) || string(got.eventType) != headerString(msg.Headers, ":event-type") ||
			string(got.messageType) != headerString(msg.Headers, ":message-type") {
			t.Fatal("readFrame and the SDK read different frames")
		}
	})
}

// An upstream exception whose message quotes the request (a validation
// error naming a value it was sent) comes back restored, as the SSE path
// restores an error event; one that quotes nothing passes byte for byte.
func TestEventStreamRestoresExceptionMessages(t *testing.T) {
	e, masked, restore := unmaskTestEngine(t)
	i := strings.Index(masked, "i-")
	pseudo := masked[i : i+19]
	exc := exceptionFrame(t, "validationException", "instance "+pseudo+" is not a valid input")
	got := readFrames(t, unmaskES(t, e, restore, bytes.NewReader(exc)))
	last := got[len(got)-1]
	if last.excType != "validationException" || !strings.Contains(string(last.payload), "i-0f3a9c2b7d1e4a605") || strings.Contains(string(last.payload), pseudo) {
		t.Errorf("the exception's message is not restored: %s", last.excType)
	}
}
