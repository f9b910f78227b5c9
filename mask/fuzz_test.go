package mask

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	f.Helper()
	files, _ := os.ReadDir("testdata/fixtures")
	for _, fi := range files {
		b, err := os.ReadFile("testdata/fixtures/" + fi.Name())
		if err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	for _, r := range Rules() {
		for _, m := range r.Matches {
			f.Add([]byte(m.In))
		}
		for _, m := range r.Ignores {
			f.Add([]byte(m))
		}
	}
}

// FuzzRoundTrip: unmask(mask(x)) == x for every x.
func FuzzRoundTrip(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, x []byte) {
		e, _ := testEngine(t, nil)
		m, err := e.MaskBytes(x, nil)
		if err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		u, err := e.UnmaskBytes(m, e.RestoreAll(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(u, x) {
			t.Fatalf("unmask(mask(x)) != x (first difference at byte %d of %d)", firstDiff(u, x), len(x))
		}
	})
}

// FuzzStreamChunks: the streaming masker and unmasker give the same output
// for every way of cutting the input.
func FuzzStreamChunks(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, x []byte) {
		e, _ := testEngine(t, nil)
		want, err := e.MaskBytes(x, nil)
		if err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		seed := 1
		if len(x) > 0 {
			seed = int(x[0])
		}
		sizes := func() int { seed = (seed*1103515245 + 12345) & 0x7fffffff; return 1 + seed%13 }
		fresh, _ := testEngine(t, nil)
		if got := streamThrough(t, fresh.NewMasker(nil), x, sizes); !bytes.Equal(got, want) {
			t.Fatalf("chunked mask differs at byte %d", firstDiff(got, want))
		}
		whole, err := e.UnmaskBytes(want, e.RestoreAll(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := streamThrough(t, e.NewUnmasker(e.RestoreAll(), nil), want, sizes); !bytes.Equal(got, whole) {
			t.Fatalf("chunked unmask differs at byte %d", firstDiff(got, whole))
		}
	})
}

// FuzzMaskRequest: masking a JSON body keeps it valid JSON and leaves every
// byte outside string values as it was; invalid bodies are refused.
func FuzzMaskRequest(f *testing.F) {
	if b, err := os.ReadFile("testdata/request.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":"i-0f3a9c2b7d1e4a605 \n 10.1.2.3"}]}`))
	f.Add([]byte(`{"a":[1,2.5e3,-0,true,false,null,{"OwnerId":"210987654321"}]}`))
	f.Add([]byte(`{"x":"\u00a0AKIAQ3EGUWTX3KMNPZRX\"\\"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, _ := testEngine(t, nil)
		out, _, err := e.MaskRequest(body, BodyMessages, nil)
		valid := json.Valid(body)
		if err != nil {
			if valid && errors.Is(err, ErrInvalidJSON) {
				// our parser is stricter about nothing: a valid body must pass
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !valid {
			t.Fatal("invalid JSON was accepted and would be forwarded")
		}
		if !json.Valid(out) {
			t.Fatal("masked body is not valid JSON")
		}
		if !bytes.Equal(outsideStrings(out), outsideStrings(body)) {
			t.Fatal("bytes outside strings changed")
		}
	})
}

// FuzzRoundTripNested: text JSON-encoded into a string once, twice or more
// (a JSON file inside a tool input inside a request) comes back byte for
// byte.
func FuzzRoundTripNested(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, x []byte) {
		depth := 1
		if len(x) > 0 {
			depth += int(x[0]) % 4
		}
		s := strings.ToValidUTF8(string(x), "\uFFFD")
		for range depth {
			b, _ := json.Marshal(s)
			s = string(b)
		}
		e, _ := testEngine(t, nil)
		m, err := e.MaskBytes([]byte(s), nil)
		if err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		u, err := e.UnmaskBytes(m, e.RestoreAll(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(u) != s {
			t.Fatalf("unmask(mask(x)) != x at depth %d (first difference at byte %d of %d)", depth, firstDiff(u, []byte(s)), len(s))
		}
	})
}

// FuzzNeverSentAgain: after a request, no original the store holds appears
// as a whole token in a later request, whatever surrounds it (ordinary
// words and values under four bytes excepted, as documented).
func FuzzNeverSentAgain(f *testing.F) {
	f.Add([]byte("aws s3 cp x s3://hooli-checkout-qa-a92d/y"), []byte("Logs go to hooli-checkout-qa-a92d."))
	f.Add([]byte(`{"OwnerId": "210987654321"}`), []byte("account is 210987654321 and version 210987654321"))
	f.Add([]byte("ip 10.20.30.40"), []byte("version 10.20.30.40 or 10.20.30.40.5"))
	f.Add([]byte("password: hunter2hunter2"), []byte(`{"x":"hunter2hunter2"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		e, _ := testEngine(t, nil)
		if _, _, err := e.MaskRequest(userBody(strings.ToValidUTF8(string(a), "\uFFFD")), BodyMessages, nil); err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		out, _, err := e.MaskRequest(userBody(strings.ToValidUTF8(string(b), "\uFFFD")), BodyMessages, nil)
		if err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		var v view
		v.build(out, viewState{}, true)
		e.mu.RLock()
		defer e.mu.RUnlock()
		for i := range e.idx.len() {
			m := e.idx.mapping(int32(i))
			if ordinary(m.Original) || anchorOf(m.Original) < 0 {
				continue
			}
			if at := wholeToken(v.d, m.Original); at >= 0 {
				t.Fatalf("original %d (%s, %d bytes) was sent again, at byte %d", i, m.Kind, len(m.Original), at)
			}
		}
	})
}

// wholeToken returns where v stands in d as a whole token (no letter,
// digit or '_' joins it to a neighbour on either side), or -1.
func wholeToken(d []byte, v string) int {
	for from := 0; ; {
		k := bytes.Index(d[from:], []byte(v))
		if k < 0 {
			return -1
		}
		a, b := from+k, from+k+len(v)
		before := a == 0 || !isWord(d[a-1]) || !isWord(v[0]) || escapeEndsAt(d, a)
		after := b == len(d) || !isWord(d[b]) || !isWord(v[len(v)-1])
		if before && after {
			return a
		}
		from = a + 1
	}
}
