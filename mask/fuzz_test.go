package mask

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
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
		for _, m := range append(append([]string{}, r.Matches...), r.Ignores...) {
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
