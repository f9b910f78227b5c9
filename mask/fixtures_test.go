package mask

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func testEngine(t testing.TB, opts *Options) (*Engine, *MemoryMappings) {
	t.Helper()
	m := NewMemoryMappings()
	e, err := New([]byte("0123456789abcdef0123456789abcdef"), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, m
}

type fixture struct {
	name    string
	text    []byte
	secrets []string
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	files, err := filepath.Glob("testdata/fixtures/*.secrets")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out []fixture
	for _, sf := range files {
		name := strings.TrimSuffix(sf, ".secrets")
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := os.ReadFile(sf)
		if err != nil {
			t.Fatal(err)
		}
		f := fixture{name: filepath.Base(name), text: text}
		for _, l := range strings.Split(strings.TrimSpace(string(sec)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				f.secrets = append(f.secrets, l)
			}
		}
		out = append(out, f)
	}
	return out
}

var wordRE = regexp.MustCompile(`[A-Za-z]{4,}`)

// TestFixturesRecall masks realistic AWS material: every listed identifier
// disappears, every ordinary word stays, and unmask restores the input.
func TestFixturesRecall(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			e, _ := testEngine(t, nil)
			masked, err := e.MaskBytes(f.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range f.secrets {
				if !bytes.Contains(f.text, []byte(s)) {
					t.Errorf("secret %d is not in the fixture", i+1)
				}
				if bytes.Contains(masked, []byte(s)) {
					t.Errorf("secret %d of %s survived masking", i+1, f.name)
				}
			}
			// prose: words that are not part of an identifier come through
			for _, w := range wordRE.FindAll(f.text, -1) {
				inSecret := false
				for _, s := range f.secrets {
					if strings.Contains(s, string(w)) {
						inSecret = true
					}
				}
				if inSecret {
					continue
				}
				if bytes.Count(masked, w) < bytes.Count(f.text, w)-bytes.Count(maskedRegionText(e, f.text), w) {
					t.Errorf("%s: an ordinary word (%d letters) was changed", f.name, len(w))
				}
			}
			back, err := e.UnmaskBytes(masked, e.RestoreAll(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, f.text) {
				t.Errorf("%s: unmask(mask(x)) != x", f.name)
			}
		})
	}
}

// maskedRegionText returns the text of every span, so words inside
// identifiers (a bucket called orders) are not counted as prose.
func maskedRegionText(e *Engine, text []byte) []byte {
	var b bytes.Buffer
	e.NewScanner(func(f Finding) {
		b.Write(text[f.Offset : f.Offset+int64(f.Length)])
		b.WriteByte(' ')
	}).Copy(nil, bytes.NewReader(text))
	return b.Bytes()
}
