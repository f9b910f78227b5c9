package mask

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// refView is a plain reading of the view's rules, written separately from
// the streaming decoder: literals are found by looking ahead for their end,
// then decoded and read again.
func refView(s string, depth int) string {
	var b strings.Builder
	odd := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '"' || odd || depth >= maxLiteralDepth {
			b.WriteByte(c)
			odd = c == '\\' && !odd
			continue
		}
		// a literal: up to the next unescaped quote or newline
		j := i + 1
		for j < len(s) && s[j] != '"' && s[j] != '\n' {
			if s[j] == '\\' && j+1 < len(s) && s[j+1] != '\n' {
				j++
			}
			j++
		}
		inner := refDecode(s[i+1 : min(j, len(s))])
		b.WriteByte('"')
		b.WriteString(refView(inner, depth+1))
		if j < len(s) && s[j] == '"' {
			b.WriteByte('"')
			j++
		}
		i = j - 1
		odd = false
	}
	return b.String()
}

// refDecode decodes the escapes of a literal's content; invalid ones stay.
func refDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			b.WriteByte(c)
			i++
		case 'b', 'f', 'n', 'r', 't':
			b.WriteByte(simpleEscape[c])
			i++
		case 'u':
			r, n := refHex(s[i:])
			if n == 0 {
				b.WriteByte('\\')
				continue
			}
			b.WriteRune(r)
			i += n - 1
		default:
			b.WriteByte('\\')
		}
	}
	return b.String()
}

func refHex(s string) (rune, int) {
	h := func(t string) (rune, bool) {
		if len(t) < 6 || t[0] != '\\' || t[1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range []byte(t[2:6]) {
			if !isHexAny(c) {
				return 0, false
			}
			r = r<<4 | rune(hexNibble(c))
		}
		return r, true
	}
	r, ok := h(s)
	if !ok {
		return 0, 0
	}
	if r >= 0xd800 && r < 0xdc00 {
		if lo, ok := h(s[6:]); ok && lo >= 0xdc00 && lo < 0xe000 {
			return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), 12
		}
		return utf8.RuneError, 6
	}
	if r >= 0xdc00 && r < 0xe000 {
		return utf8.RuneError, 6
	}
	return r, 6
}

func buildView(raw string) *view {
	v := &view{}
	v.build([]byte(raw), viewState{}, true)
	return v
}

func TestViewReadsLiteralsAtEveryLevel(t *testing.T) {
	file := "{\n  \"UserData\": \"#!/bin/bash\\nexport DB_PASSWORD=Zx9Lk2MnOp\\n\",\n  \"Path\": \"C:\\\\Users\\\\x\"\n}"
	input, _ := json.Marshal(map[string]string{"file_path": "/tmp/x.json", "content": file})
	body, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "tool_use", "id": "t", "name": "Write", "input": json.RawMessage(input)}}}}})
	v := buildView(string(body))
	d := string(v.d)
	for _, want := range []string{"\nexport DB_PASSWORD=Zx9Lk2MnOp\n", `"Path": "C:\Users\x"`, `"UserData": "#!/bin/bash`} {
		if !strings.Contains(d, want) {
			t.Errorf("view lacks a %d-byte piece of the file", len(want))
		}
	}
	if got := refView(string(body), 0); got != d {
		t.Errorf("view differs from the reference at byte %d", firstDiff([]byte(d), []byte(got)))
	}
}

func TestViewEscapesOfRealClients(t *testing.T) {
	for raw, want := range map[string]string{
		`"\u003cownerId\u003e210987654321"`:      `"<ownerId>210987654321"`,
		`"a\u002610.20.30.40"`:                   `"a&10.20.30.40"`,
		`"x\u00a010.1.2.3"`:                      "\"x\u00a010.1.2.3\"",
		`"arn:aws:iam::1:role\/Deploy s3:\/\/b"`: `"arn:aws:iam::1:role/Deploy s3://b"`,
		`"\u0041KIAQ3EGUWTX3KMNPZRX"`:            `"AKIAQ3EGUWTX3KMNPZRX"`,
		`"\ud83d\ude00 \ud800x \q"`:              "\"\U0001F600 \uFFFDx \\q\"",
		`outside \n "in \n" \"not open`:          "outside \\n \"in \n\" \\\"not open",
		"\"open\nnext \\n\"":                     "\"open\nnext \\n\"",
	} {
		if got := string(buildView(raw).d); got != want {
			t.Errorf("view of a %d-byte text differs from the expected at byte %d", len(raw), firstDiff([]byte(got), []byte(want)))
		}
		if ref := refView(raw, 0); ref != want {
			t.Errorf("reference view of a %d-byte text differs from the expected at byte %d", len(raw), firstDiff([]byte(ref), []byte(want)))
		}
	}
}

// Rewriting with no replacement gives the raw text back, whatever it holds.
func TestViewRewriteIdentity(t *testing.T) {
	for _, raw := range []string{"", "plain", `{"a":"b\"c\\d\u00e9\ud83d\ude00"}`, "x \\u00zz \"\\u00\"", `"\\\"\\\\n\""`} {
		v := buildView(raw)
		out, err := v.rewrite(nil, 0, len(v.d), nil, nil)
		if err != nil || string(out) != raw {
			t.Errorf("rewrite of a %d-byte text with no replacement differs at byte %d (%v)", len(raw), firstDiff(out, []byte(raw)), err)
		}
	}
}

// FuzzView: the streaming decoder agrees with the reference, gives the
// same view however the input is cut, and changing letters and digits of
// the view (as pseudonyms do) gives raw text that reads back as the
// changed view.
func FuzzView(f *testing.F) {
	f.Add([]byte(`{"content":"{\"a\": \"x\\ny \\\"q\\\"\"}\nline2 \\q"}`), uint8(3))
	f.Add([]byte(`"\ud83d\ude00\u00e9\u0041" outside \"x\" "\q\u12"`), uint8(1))
	f.Add([]byte("\"a\nb\" \"c"), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, cut uint8) {
		v := &view{}
		v.build(raw, viewState{}, true)
		if ref := refView(string(raw), 0); string(v.d) != ref {
			t.Fatalf("view of a %d-byte text differs from the reference at byte %d", len(raw), firstDiff(v.d, []byte(ref)))
		}
		whole := bytes.Clone(v.d)
		// cut into pieces, restarting where each piece's decoding stopped
		step := int(cut%7) + 1
		var got []byte
		st := viewState{}
		rest := raw
		for len(rest) > 0 {
			n := min(step, len(rest))
			final := n == len(rest)
			var w view
			// keep everything decoded so far except what a stream would
			// hold back: restart at the last complete character
			w.build(rest[:n], st, final)
			if !final && w.used == 0 {
				step++
				continue
			}
			got = append(got, w.d...)
			st = w.stateAt(len(w.d))
			rest = rest[w.used:]
		}
		if !bytes.Equal(got, whole) {
			t.Fatalf("cut every %d bytes, the view differs at byte %d", step, firstDiff(got, whole))
		}
		// change letters and digits in one span and read the result again
		if len(whole) == 0 {
			return
		}
		a := int(cut) % len(whole)
		b := min(len(whole), a+1+int(cut)%9)
		r := []byte(string(whole[a:b]))
		for i, c := range r {
			switch {
			case c >= 'a' && c <= 'y', c >= 'A' && c <= 'Y', c >= '0' && c <= '8':
				r[i] = c + 1
			}
		}
		out, err := v.rewrite(nil, 0, len(v.d), []Span{{Start: a, End: b}}, []string{string(r)})
		if err != nil {
			return // refused, as it must be where a change would read differently
		}
		want := append(append(append([]byte{}, whole[:a]...), r...), whole[b:]...)
		if back := buildView(string(out)); !bytes.Equal(back.d, want) {
			t.Fatalf("changed text reads differently at byte %d", firstDiff(back.d, want))
		}
	})
}
