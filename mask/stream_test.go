package mask

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"
)

// streamThrough feeds text to a stream in the given chunk sizes.
func streamThrough(t testing.TB, s *Stream, text []byte, sizes func() int) []byte {
	t.Helper()
	var out []byte
	for p := 0; p < len(text); {
		n := sizes()
		if n < 1 {
			n = 1
		}
		if p+n > len(text) {
			n = len(text) - p
		}
		o, err := s.Write(text[p : p+n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
		p += n
	}
	o, err := s.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, o...)
}

func streamInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{}
	for _, f := range loadFixtures(t) {
		in[f.name] = f.text
	}
	b, err := os.ReadFile("testdata/request.json")
	if err != nil {
		t.Fatal(err)
	}
	in["request.json"] = b
	return in
}

// TestStreamChunkingInvariant: masking and unmasking give the same output
// however the input is cut, down to one byte at a time.
func TestStreamChunkingInvariant(t *testing.T) {
	for name, text := range streamInputs(t) {
		t.Run(name, func(t *testing.T) {
			// a store that knows nothing yet: every cut starts from the
			// same empty store
			cold, _ := testEngine(t, nil)
			coldWant, err := cold.MaskBytes(text, nil)
			if err != nil {
				t.Fatal(err)
			}
			// a store that learned the text's values before
			e, _ := testEngine(t, nil)
			if _, err := e.MaskBytes(text, nil); err != nil {
				t.Fatal(err)
			}
			want, err := e.MaskBytes(text, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(len(text))))
			cuts := map[string]func() int{
				"1":      func() int { return 1 },
				"7":      func() int { return 7 },
				"random": func() int { return 1 + r.IntN(200) },
				"big":    func() int { return 1 << 20 },
			}
			for cn, sizes := range cuts {
				fresh, _ := testEngine(t, nil)
				if got := streamThrough(t, fresh.NewMasker(nil), text, sizes); !bytes.Equal(got, coldWant) {
					t.Errorf("mask with %s-byte chunks on an empty store differs from whole-text masking at byte %d", cn, firstDiff(got, coldWant))
				}
				got := streamThrough(t, e.NewMasker(nil), text, sizes)
				if !bytes.Equal(got, want) {
					t.Errorf("mask with %s-byte chunks differs from whole-text masking at byte %d", cn, firstDiff(got, want))
				}
				back := streamThrough(t, e.NewUnmasker(e.RestoreAll(), nil), want, sizes)
				if !bytes.Equal(back, text) {
					t.Errorf("unmask with %s-byte chunks did not restore the input (first difference at byte %d)", cn, firstDiff(back, text))
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestStreamHoldsOnlyWhatCouldBecomeAPseudonym: text that cannot be part
// of a pseudonym is released at once; a pseudonym split over deltas is
// still restored.
func TestStreamHoldsOnlyWhatCouldBecomeAPseudonym(t *testing.T) {
	e, _ := testEngine(t, nil)
	masked, err := e.MaskBytes([]byte("i-0f3a9c2b7d1e4a605"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := e.NewUnmasker(e.RestoreAll(), nil)
	out, _ := u.Write([]byte("Hello, world! "))
	if string(out) != "Hello, world! " {
		t.Errorf("plain text was held back: %d of 14 bytes released", len(out))
	}
	var got []byte
	for _, c := range masked {
		o, _ := u.Write([]byte{c})
		got = append(got, o...)
	}
	o, _ := u.Write([]byte(" done"))
	got = append(got, o...)
	o, _ = u.Flush()
	got = append(got, o...)
	if string(got) != "i-0f3a9c2b7d1e4a605 done" {
		t.Errorf("split pseudonym not restored")
	}
	// a pseudonym prefix followed by more characters is not a pseudonym
	u = e.NewUnmasker(e.RestoreAll(), nil)
	o1, _ := u.Write(masked)
	o2, _ := u.Write([]byte("0"))
	o3, _ := u.Flush()
	if got := string(o1) + string(o2) + string(o3); got != string(masked)+"0" {
		t.Errorf("a longer token was unmasked as if it were the pseudonym")
	}
}

// TestStreamBoundedMemory: a long input with no line breaks never makes
// the stream hold more than its bound.
func TestStreamBoundedMemory(t *testing.T) {
	e, _ := testEngine(t, nil)
	s := e.NewMasker(nil)
	chunk := bytes.Repeat([]byte("abcdefgh"), 8<<10)
	for i := 0; i < 64; i++ {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if s.Pending() > maxTokenLen+maxContextBack {
			t.Fatalf("stream holds %d bytes", s.Pending())
		}
	}
}

// TestStreamReader: reading the stream's output a byte at a time, or with
// io.Copy, gives what masking the whole text gives.
func TestStreamReader(t *testing.T) {
	e, _ := testEngine(t, nil)
	text, err := os.ReadFile("testdata/request.json")
	if err != nil {
		t.Fatal(err)
	}
	e.MaskBytes(text, nil) // the store learns the text's values first
	want, _ := e.MaskBytes(text, nil)
	got, err := io.ReadAll(iotest.OneByteReader(e.NewMasker(nil).Reader(iotest.HalfReader(bytes.NewReader(text)))))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("byte-at-a-time reads differ at byte %d (%v)", firstDiff(got, want), err)
	}
	var buf bytes.Buffer
	if err := e.NewMasker(nil).Copy(&buf, iotest.DataErrReader(bytes.NewReader(text))); err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("Copy differs at byte %d (%v)", firstDiff(buf.Bytes(), want), err)
	}
}
