package mask

// Attacks from an adversarial review, each the case that once leaked or
// broke a promise. Values are made up; failures report kinds, lengths and
// offsets, never values.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// readerDecoded decodes JSON escapes wherever they stand, at every depth,
// whatever the quotes around them: what a reader (or a model) can undo.
func readerDecoded(b []byte) []byte {
	cur := string(b)
	for range 10 {
		var o strings.Builder
		changed := false
		for j := 0; j < len(cur); j++ {
			if cur[j] == '\\' && j+1 < len(cur) {
				switch c := cur[j+1]; c {
				case '"', '\\', '/':
					o.WriteByte(c)
					j++
					changed = true
					continue
				case 'n':
					o.WriteByte('\n')
					j++
					changed = true
					continue
				case 'u':
					var v rune
					if j+5 < len(cur) {
						if _, err := fmt.Sscanf(cur[j+2:j+6], "%04x", &v); err == nil {
							o.WriteRune(v)
							j += 5
							changed = true
							continue
						}
					}
				}
			}
			o.WriteByte(cur[j])
		}
		cur = o.String()
		if !changed {
			break
		}
	}
	return append(append([]byte{}, b...), "\n"+cur...)
}

func sentAny(out []byte, secrets ...string) []int {
	var l []int
	d := append(decoded(out), readerDecoded(out)...)
	for i, s := range secrets {
		if bytes.Contains(d, []byte(s)) {
			l = append(l, i+1)
		}
	}
	return l
}

// A document block with a plain-text source carries its text in
// source.data: it is masked like any text (only base64 data is skipped).
func TestTextDocumentSourceIsMasked(t *testing.T) {
	e, _ := testEngine(t, nil)
	ak, sk := "AKIAZ4XQ7NB2LK5MWEJD", "q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia"
	doc := "aws_access_key_id = " + ak + "\naws_secret_access_key = " + sk + "\ninstance i-0f3a9c2b7d1e4a605\n"
	for _, where := range []string{"message", "tool_result"} {
		blk := map[string]any{"type": "document", "source": map[string]any{"type": "text", "media_type": "text/plain", "data": doc}}
		var content any = []any{blk}
		if where == "tool_result" {
			content = []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_01", "content": []any{blk}}}
		}
		body := mustJSON(map[string]any{"messages": []any{map[string]any{"role": "user", "content": content}}})
		out, _, err := e.MaskRequest(body, BodyMessages, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l := sentAny(out, ak, sk, "i-0f3a9c2b7d1e4a605"); len(l) > 0 {
			t.Errorf("%s: a text document's source.data went out unmasked (secrets %v)", where, l)
		}
	}
}

// `claude-secure mask` is a stream: a learned value right after an escape
// unit or a terminal colour (\n, \u00e9, ESC[1;31m) is masked wherever a
// read ends, as whole-text masking masks it.
func TestStreamLearnedValueAfterEscapeUnit(t *testing.T) {
	e, _ := testEngine(t, nil)
	if _, err := e.MaskBytes([]byte(`{"Tags": [{"Key": "Name", "Value": "Payroll Db-2 Primary"}]}`+"\n"), nil); err != nil {
		t.Fatal(err)
	}
	const v = "Payroll Db-2 Primary"
	for _, x := range []string{
		"abcdef\\n" + v + " is down\n",   // a log line with a literal \n
		"a\x1b[1;31m" + v + " is down\n", // terminal colours
		"abc\\u00e9" + v + " is down\n",  // an escape outside quotes
	} {
		whole, err := e.MaskBytes([]byte(x), nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(whole, []byte(v)) {
			t.Fatal("whole-text masking sent the learned value")
		}
		leaks := 0
		for c := 1; c < len(x); c++ {
			s := e.NewMasker(nil)
			var got []byte
			for _, p := range [][]byte{[]byte(x[:c]), []byte(x[c:])} {
				o, err := s.Write(p)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, o...)
			}
			o, _ := s.Flush()
			got = append(got, o...)
			if bytes.Contains(got, []byte(v)) {
				leaks++
			}
		}
		if leaks > 0 {
			t.Errorf("%d of %d cuts of a %d-byte line send a learned value (%d bytes) that whole-text masking hides", leaks, len(x)-1, len(x), len(v))
		}
	}
}

// A pseudonym right after a literal \n in streamed text is restored
// wherever the deltas are cut.
func TestEventUnmaskAfterEscapeUnit(t *testing.T) {
	e, _ := testEngine(t, nil)
	x := "abcdeprintf 'a\\nASIAQ3EGUWTX3KMNPZRX'\n"
	masked, r, err := e.MaskRequest(userBody(x), BodyMessages, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Messages []struct{ Content string } }
	if err := json.Unmarshal(masked, &v); err != nil {
		t.Fatal(err)
	}
	m := v.Messages[0].Content
	bad := 0
	for c := 1; c < len(m); c++ {
		if got := runTextDeltas(t, e, r, m, c); got != x {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d text_delta cuts leave the pseudonym unrestored", bad, len(m)-1)
	}
}

func runTextDeltas(t *testing.T, e *Engine, r *Restore, text string, cut int) string {
	u := e.NewEventUnmasker(r, nil)
	var got string
	take := func(data []byte) {
		var d struct {
			Delta struct{ Type, Text string } `json:"delta"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal("an event is not JSON")
		}
		if d.Delta.Type == "text_delta" {
			got += d.Delta.Text
		}
	}
	send := func(v any) {
		out, err := u.Event(mustJSON(v), func(_ string, data []byte) { take(data) })
		if err != nil {
			t.Fatal(err)
		}
		take(out)
	}
	send(map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	for _, p := range []string{text[:cut], text[cut:]} {
		send(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": p}})
	}
	send(map[string]any{"type": "content_block_stop", "index": 0})
	return got
}

// An IPv6 address with an IPv4 tail (RFC 4291 2.2: NAT64, translated
// addresses) is masked into one of the same shape, not refused.
func TestIPv6WithEmbeddedIPv4(t *testing.T) {
	e, _ := testEngine(t, nil)
	for _, a := range []string{"2600:1f18::10.0.1.5", "fd12::10.0.1.0/24", "fd12:3456:789a::110.0.1.0"} {
		out, err := e.MaskBytes([]byte("dig AAAA db returned "+a), nil)
		if err != nil {
			t.Fatalf("a %d-byte IPv6 address with an IPv4 tail is refused: %v", len(a), err)
		}
		p := strings.TrimPrefix(string(out), "dig AAAA db returned ")
		addr, _, _ := strings.Cut(p, "/")
		if p == a || len(p) != len(a) || netip.MustParseAddr(addr) == netip.MustParseAddr(strings.Split(a, "/")[0]) {
			t.Errorf("a %d-byte IPv6 address with an IPv4 tail was not masked into one of its shape", len(a))
		}
		if _, err := netip.ParseAddr(addr); err != nil {
			t.Errorf("the pseudonym of a %d-byte IPv6 address is not an address", len(a))
		}
	}
}

// A password is masked whole: past any punctuation, an escaped quote or
// backslash, and when it opens like a placeholder but is none ($uperS3…).
func TestPasswordsMaskedWhole(t *testing.T) {
	e, _ := testEngine(t, nil)
	for _, c := range []struct{ text, rest string }{
		{"DB_PASSWORD=Tr0ub4dor&3xQ\n", "&3xQ"},
		{"DB_PASSWORD=hunter2!x9Zq\n", "!x9Zq"},
		{"DB_PASSWORD=ab!Zq9Lk2Mn77x\n", "ab!Zq9Lk2Mn77x"},
		{"DB_PASSWORD=Zq9Lk2Mn;Zq9\n", ";Zq9"},
		{`{"password": "ab12\"cd34ef"}`, "cd34ef"},
		{`{"password": "ab12\\cd34ef"}`, "cd34ef"},
		{"password: $uperS3cret9\n", "$uperS3cret9"},
		{"password = \"%Zq9Lk2Mn\"\n", "%Zq9Lk2Mn"},
	} {
		for _, body := range []bool{false, true} {
			var out []byte
			var err error
			if body {
				out, _, err = e.MaskRequest(userBody(c.text), BodyMessages, nil)
			} else {
				out, err = e.MaskBytes([]byte(c.text), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if l := sentAny(out, c.rest); len(l) > 0 {
				t.Errorf("body=%v: %d bytes of a password (%d-byte line) were sent", body, len(c.rest), len(c.text))
			}
		}
	}
}

// A session token longer than any other token (STS documents no maximum)
// is masked by its key and by its prefix.
func TestLongSessionToken(t *testing.T) {
	e, _ := testEngine(t, nil)
	tok := "IQoJb3JpZ2luX2VjE" + strings.Repeat("AbCd0123+/xyZQ", 300) // 4217 bytes
	for _, f := range []string{"aws_session_token = %s\n", `{"SessionToken": "%s"}`} {
		out, err := e.MaskBytes([]byte(fmt.Sprintf(f, tok)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(tok)) {
			t.Errorf("a %d-byte session token was sent whole", len(tok))
		}
	}
}

// A host address written with a prefix length no longer than its private
// block (ip addr prints 10.0.1.5/8) is a host, and masked.
func TestHostAddressWithShortPrefix(t *testing.T) {
	e, _ := testEngine(t, nil)
	for _, x := range []string{"inet 10.0.1.5/8 scope global eth0", "inet 172.31.20.7/12", "inet 192.168.7.42/16"} {
		out, err := e.MaskBytes([]byte(x), nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(out, []byte(x)) {
			t.Errorf("a private host address (%d-byte line) was sent unchanged", len(x))
		}
	}
}

// Promise 1, recall: PGP private key blocks are private keys too.
func TestPGPPrivateKeyBlock(t *testing.T) {
	e, _ := testEngine(t, nil)
	const body = "lQOYBGXabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZab"
	text := "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + body + "\n-----END PGP PRIVATE KEY BLOCK-----\n"
	out, err := e.MaskBytes([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(body)) {
		t.Errorf("a %d-byte PGP key body was sent", len(body))
	}
}

// An address right after an escape unit whose hex digits run into it
// (\udc0010.0.1.5) is decided the same whatever the cut.
func TestDigitsAfterAnEscapeUnitDoNotDependOnTheCut(t *testing.T) {
	x := []byte("\\udc0010.0.1.5 x\n10.0.1.0/24")
	e, _ := testEngine(t, nil)
	if _, err := e.MaskBytes(x, nil); err != nil {
		t.Fatal(err)
	}
	whole, _ := e.MaskBytes(x, nil)
	got := streamThrough(t, e.NewMasker(nil), x, func() int { return 1 })
	if !bytes.Equal(got, whole) {
		t.Errorf("1-byte chunks differ from whole-text masking at byte %d", firstDiff(got, whole))
	}
}

var _ = errors.New

// An original with a leading zero, written by the model as a JSON number
// in a streamed tool input, is restored as a string: the input stays JSON
// and the tool gets the real value.
func TestStreamedToolInputNumberRestoredAsString(t *testing.T) {
	e, _ := testEngine(t, nil)
	_, r, err := e.MaskRequest(userBody(`{"OwnerId": "012345678901"}`), BodyMessages, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Pseudonyms()[0]
	u := e.NewEventUnmasker(r, nil)
	var pj string
	take := func(data []byte) {
		var d struct {
			Delta struct {
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		json.Unmarshal(data, &d)
		pj += d.Delta.PartialJSON
	}
	send := func(v any) {
		o, err := u.Event(mustJSON(v), func(_ string, d []byte) { take(d) })
		if err != nil {
			t.Fatal(err)
		}
		take(o)
	}
	send(map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "tool_use", "id": "t", "name": "n", "input": map[string]any{}}})
	send(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "input_json_delta", "partial_json": `{"account_id":` + p + `}`}})
	send(map[string]any{"type": "content_block_stop", "index": 0})
	var in struct {
		AccountID any `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(pj), &in); err != nil {
		t.Fatal("the restored tool input is not JSON")
	}
	if in.AccountID != "012345678901" {
		t.Errorf("the account was not restored as a string (%T)", in.AccountID)
	}
}

// A password in a connection string or query ends where the next pair
// begins: the pairs after it stay readable.
func TestPasswordStopsAtTheNextPair(t *testing.T) {
	e, _ := testEngine(t, nil)
	for _, c := range []struct{ text, secret, after string }{
		{"Server=db;Password=Zq9Lk2Mn!x;Database=orders\n", "Zq9Lk2Mn!x", ";Database=orders"},
		{"password=Zq9Lk2&Mn!x&region=eu-west-1\n", "Zq9Lk2&Mn!x", "&region=eu-west-1"},
		{"DB_PASSWORD=Zq9Lk2Mn!x, then restart\n", "Zq9Lk2Mn!x", ", then restart"},
	} {
		out, err := e.MaskBytes([]byte(c.text), nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(c.secret)) {
			t.Errorf("a %d-byte password was sent", len(c.secret))
		}
		if !bytes.Contains(out, []byte(c.after)) {
			t.Errorf("the %d bytes after a password were masked with it", len(c.after))
		}
	}
}
