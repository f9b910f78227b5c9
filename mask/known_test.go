package mask

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// referenceMatches finds values in d the plain way: at each position in
// turn, the longest value that stands there as a whole token (its first
// word byte starts a token, its last does not run into a word), then on
// from its end.
func referenceMatches(d []byte, lo int, vals map[string]int32) []match {
	var byLen []string
	for v := range vals {
		byLen = append(byLen, v)
	}
	slices.SortFunc(byLen, func(a, b string) int { return len(b) - len(a) })
	var out []match
	for s := lo; s < len(d); s++ {
		for _, v := range byLen {
			e := s + len(v)
			if e > len(d) || string(d[s:e]) != v {
				continue
			}
			if !wordBoundaryBefore(d, s+anchorOf(v)) {
				continue
			}
			if e < len(d) && isWord(d[e-1]) && isWord(d[e]) {
				continue
			}
			out = append(out, match{start: s, end: e, id: vals[v]})
			s = e - 1
			break
		}
	}
	return out
}

func tableOf(values string) (*tokenTable, map[string]int32) {
	t := newTokenTable(nil, true)
	vals := map[string]int32{}
	for i, v := range strings.Split(values, "\n") {
		if _, dup := vals[v]; !dup && t.add(v, int32(i)) {
			vals[v] = int32(i)
		}
	}
	return t, vals
}

// formatMatches shows matches by offsets and ids, never their text.
func formatMatches(ms []match) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[%d,%d)#%d ", m.start, m.end, m.id)
	}
	return b.String()
}

// FuzzTokenTable compares the table's scan, eight bytes at a time with a
// filter, against the plain reference, from any starting point (a stream
// resumes where it held back); and a scan of a cut text against the scan
// of the whole: what it returns before its hold point stands.
func FuzzTokenTable(f *testing.F) {
	f.Add([]byte("a vpc-0abc1234 and 10.0.0.1, not xvpc-0abc1234 or 10.0.0.12; \"vpc-0abc1234\""), []byte(" tail"), "vpc-0abc1234\n10.0.0.1\n10.0.0.12", uint16(0))
	f.Add([]byte(`line\nvpc-0abc1234\u00e9vpc-0abc1234 \\nvpc-0abc1234 `+"\x1b[31mvpc-0abc1234\x1b[0m"), []byte(""), "vpc-0abc1234", uint16(0))
	f.Add([]byte("log /aws/lambda/orders-api and /aws/lambda/orders-api-v2 ::ffff:10.1.2.3"), []byte("-v3"), "/aws/lambda/orders-api\n/aws/lambda/orders-api-v2\n::ffff:10.1.2.3\n10.1.2.3", uint16(0))
	f.Add([]byte(strings.Repeat("word ", 70)+"i-0123456789abcdef0 i-0123456789abcdef"), []byte("0"), "i-0123456789abcdef0\ni-0123456789abcdef", uint16(0))
	f.Add([]byte("xy\\u00e9vpc-0abc1234 tail"), []byte(""), "vpc-0abc1234", uint16(8))
	f.Add([]byte("a\x1b[1;31mvpc-0abc1234\x1b[0m"), []byte(""), "vpc-0abc1234", uint16(8))
	f.Fuzz(func(t *testing.T, text, more []byte, values string, from uint16) {
		if len(text) > 1<<12 || len(values) > 1<<12 {
			return
		}
		lo := int(from) % (len(text) + 1)
		tab, vals := tableOf(values)
		got, hold := tab.scan(text, lo, true, nil, nil)
		want := referenceMatches(text, lo, vals)
		if hold != len(text) || !slices.Equal(got, want) {
			t.Fatalf("scan of a %d-byte text from %d:\n got %s (hold %d)\nwant %s", len(text), lo, formatMatches(got), hold, formatMatches(want))
		}
		whole := append(slices.Clip(text), more...)
		all := referenceMatches(whole, lo, vals)
		part, hold := tab.scan(text, lo, false, nil, nil)
		var stand []match
		for _, m := range all {
			if m.end <= hold {
				stand = append(stand, m)
			}
		}
		if !slices.Equal(part, stand) {
			t.Fatalf("scan of a %d-byte text cut at %d, hold %d:\n got %s\nwant %s", len(whole), len(text), hold, formatMatches(part), formatMatches(stand))
		}
	})
}

// TestTokenTableLongText runs the reference comparison over a text long
// enough for every path of the scan: blocks of eight, windows of 32
// blocks, and the bytes at the end.
func TestTokenTableLongText(t *testing.T) {
	vals := []string{"vpc-0abc1234", "10.0.0.1", "/aws/lambda/orders-api", "i-0123456789abcdef0", "orders-db-prod"}
	var b strings.Builder
	for i := 0; b.Len() < 5000; i++ {
		v := vals[i%len(vals)]
		switch i % 7 {
		case 0:
			b.WriteString(" " + v + " ")
		case 1:
			b.WriteString("x" + v + ",")
		case 2:
			b.WriteString(`"\n` + v + `"`)
		case 3:
			b.WriteString("\x1b[1;31m" + v + "\x1b[0m")
		case 4:
			b.WriteString(v + "x ")
		case 5:
			b.WriteString(strings.Repeat("a", i%13) + " " + v)
		default:
			b.WriteString(`\\n` + v + "\t")
		}
	}
	text := []byte(b.String())
	tab, m := tableOf(strings.Join(vals, "\n"))
	for cut := len(text) - 40; cut <= len(text); cut++ {
		got, _ := tab.scan(text[:cut], 0, true, nil, nil)
		want := referenceMatches(text[:cut], 0, m)
		if !slices.Equal(got, want) {
			t.Fatalf("cut at %d:\n got %s\nwant %s", cut, formatMatches(got), formatMatches(want))
		}
		if cut == len(text) && len(want) < 100 {
			t.Fatalf("only %d matches in the long text", len(want))
		}
	}
}
