package fakebedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

// events are the Anthropic streaming events of the answer, the ones
// fakeapi streams, with the invocation metrics Bedrock adds to
// message_stop.
func events(model, inst, acct string, extra int) []map[string]any {
	ev := fakeapi.Events("msg_bdrk_fake", modelName(model), inst, acct, extra)
	ev[len(ev)-1]["amazon-bedrock-invocationMetrics"] = map[string]any{
		"inputTokenCount": 10, "outputTokenCount": 20, "invocationLatency": 100, "firstByteLatency": 50}
	return ev
}

// ThrottleMessage is the message of the exception a Throttle stream ends
// with.
const ThrottleMessage = "Too many requests, please wait before trying again."

// stream answers with an AWS event stream: one chunk frame an event.
func (s *Server) stream(w http.ResponseWriter, model, inst, acct string, body []byte) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.Header().Set("X-Amzn-Bedrock-Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	enc := eventstream.NewEncoder()
	var buf bytes.Buffer
	send := func(m eventstream.Message, corrupt bool) {
		buf.Reset()
		if err := enc.Encode(&buf, m); err != nil {
			panic(err) // only a header too long fails, and none is
		}
		b := buf.Bytes()
		if corrupt {
			b[len(b)-1] ^= 0xff // the message CRC is the last four bytes
		}
		_, _ = w.Write(b)
		if fl != nil {
			fl.Flush()
		}
		if d := time.Duration(s.pace.Load()); d > 0 {
			time.Sleep(d)
		}
	}
	fault := Fault(s.fault.Load())
	textDeltas := 0
	evs := events(model, inst, acct, s.Deltas)
	if s.opts.Script != nil {
		evs = evs[:0]
		for _, e := range s.opts.Script(body) {
			d, _ := json.Marshal(e)
			var m map[string]any
			_ = json.Unmarshal(d, &m)
			evs = append(evs, m)
		}
	}
	for _, e := range evs {
		d, _ := e["delta"].(map[string]any)
		text := d != nil && d["type"] == "text_delta"
		if text {
			textDeltas++
		}
		data, _ := json.Marshal(e)
		send(chunkFrame(data), fault == BadCRC && text && textDeltas == 2)
		if fault == Throttle && text && textDeltas == 3 {
			payload, _ := json.Marshal(map[string]string{"message": ThrottleMessage})
			send(eventstream.Message{Headers: eventstream.Headers{
				{Name: ":exception-type", Value: eventstream.StringValue("throttlingException")},
				{Name: ":content-type", Value: eventstream.StringValue("application/json")},
				{Name: ":message-type", Value: eventstream.StringValue("exception")},
			}, Payload: payload}, false)
			return
		}
	}
}

// chunkFrame is the frame that carries one Anthropic event: its JSON in
// base64, with padding letters of a random length as Bedrock adds them.
func chunkFrame(event []byte) eventstream.Message {
	payload, _ := json.Marshal(map[string]string{
		"bytes": base64.StdEncoding.EncodeToString(event),
		"p":     padding(),
	})
	return eventstream.Message{Headers: eventstream.Headers{
		{Name: ":event-type", Value: eventstream.StringValue("chunk")},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("event")},
	}, Payload: payload}
}

func padding() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 1+rand.IntN(40))
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// StreamError is an exception frame read from a stream.
type StreamError struct {
	// Type is the frame's :exception-type (or :error-code), Message the
	// message of its payload.
	Type, Message string
}

func (e *StreamError) Error() string { return e.Type + ": " + e.Message }

// Events reads an event stream as a Bedrock client does and returns the
// Anthropic event each chunk frame carries (the JSON, decoded from its
// base64). It stops at the end of the stream, at an exception or error
// frame (a *StreamError) or at a frame it cannot decode (a bad CRC is an
// eventstream.ChecksumError); the events read before are returned with the
// error.
func Events(r io.Reader) ([]json.RawMessage, error) {
	dec := eventstream.NewDecoder()
	var out []json.RawMessage
	for {
		m, err := dec.Decode(r, nil)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch typ := header(m, ":message-type"); typ {
		case "event":
			if et := header(m, ":event-type"); et != "chunk" {
				return out, fmt.Errorf("an event frame of type %q", et)
			}
			var c struct {
				Bytes []byte `json:"bytes"` // base64 in JSON
			}
			if err := json.Unmarshal(m.Payload, &c); err != nil {
				return out, fmt.Errorf("a chunk's payload is not JSON: %w", err)
			}
			if !json.Valid(c.Bytes) {
				return out, fmt.Errorf("a chunk's event is not JSON (%d bytes)", len(c.Bytes))
			}
			out = append(out, json.RawMessage(c.Bytes))
		case "exception", "error":
			var p struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(m.Payload, &p)
			e := &StreamError{Type: header(m, ":exception-type"), Message: p.Message}
			if typ == "error" {
				e.Type, e.Message = header(m, ":error-code"), header(m, ":error-message")
			}
			return out, e
		default:
			return out, fmt.Errorf("a frame of message type %q", typ)
		}
	}
}

func header(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// Streamed joins the text deltas and the tool-input deltas of an event
// stream as a client would see them (fakeapi.Streamed for Bedrock).
func Streamed(stream []byte) (text, toolJSON string, err error) {
	evs, err := Events(bytes.NewReader(stream))
	var t, j strings.Builder
	for _, raw := range evs {
		var e struct {
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		_ = json.Unmarshal(raw, &e) // Events checked it is JSON
		switch e.Delta.Type {
		case "text_delta":
			t.WriteString(e.Delta.Text)
		case "input_json_delta":
			j.WriteString(e.Delta.PartialJSON)
		}
	}
	return t.String(), j.String(), err
}
