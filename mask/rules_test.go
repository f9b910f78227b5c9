package mask

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRules runs every detector's examples: each match must yield exactly
// the span it names, found the way it says, and a pseudonym that keeps
// what it says and changes the rest; each ignore must yield no span of the
// kind. Test names carry the kind and an index, never the value.
func TestRules(t *testing.T) {
	sc := scanner{}
	e, err := New([]byte("rules test seed, 32 bytes long.."), NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		for i, m := range r.Matches {
			t.Run(fmt.Sprintf("%s/match-%d", r.Kind, i), func(t *testing.T) {
				spans, d := scanView(&sc, []byte(m.In))
				var sp *Span
				for k := range spans {
					if spans[k].Kind == r.Kind && string(d[spans[k].Start:spans[k].End]) == m.Want {
						sp = &spans[k]
						break
					}
				}
				if sp == nil {
					t.Fatalf("match %d of %s: the wanted span is not found (found %s)", i, r.Kind, spanKinds(spans))
				}
				if got := sp.via.String(); got != m.By {
					t.Errorf("match %d of %s: found by %s, want by %s", i, r.Kind, got, m.By)
				}
				if sp.Keep != len(m.Keep) || !bytes.HasPrefix(d[sp.Start:sp.End], []byte(m.Keep)) {
					t.Errorf("match %d of %s: keeps %d bytes, want %d", i, r.Kind, sp.Keep, len(m.Keep))
				}
				checkPseudonym(t, e, *sp, canonical(d, *sp), m)
			})
		}
		for i, m := range r.Ignores {
			t.Run(fmt.Sprintf("%s/ignore-%d", r.Kind, i), func(t *testing.T) {
				spans, _ := scanView(&sc, []byte(m))
				if hasKind(spans, r.Kind) {
					t.Errorf("ignore %d of %s: found", i, r.Kind)
				}
			})
		}
	}
}

// checkPseudonym checks that the pseudonym of the span's value keeps
// m.Keep, changes the rest, and (but for addresses) keeps the length.
func checkPseudonym(t *testing.T, e *Engine, sp Span, v string, m Example) {
	t.Helper()
	k := sp.Kind
	p, err := e.ps.next(k, 0, sp.Keep, v)
	if err != nil {
		t.Errorf("%s: no pseudonym: %v", k, err)
		return
	}
	if p == v {
		t.Errorf("%s: the pseudonym is the original", k)
	}
	if len(m.Keep) > 0 && (len(p) < len(m.Keep) || p[:len(m.Keep)] != m.Keep) {
		t.Errorf("%s: the pseudonym does not keep its first %d bytes", k, len(m.Keep))
	}
	if f := k.family(); f != famIPv4 && f != famIPv6 && len(p) != len(v) {
		t.Errorf("%s: the pseudonym is %d bytes, the original %d", k, len(p), len(v))
	}
}

// TestEveryKindHasARule: a kind added without its table entry, or with an
// entry that says nothing or tests nothing, fails here.
func TestEveryKindHasARule(t *testing.T) {
	names := map[string]bool{}
	for k := Kind(0); k < kindCount; k++ {
		d := kinds[k]
		if d.name == "" {
			t.Fatalf("kind %d has no entry in the kinds table", k)
		}
		if names[d.name] {
			t.Errorf("kind name %q is used twice", d.name)
		}
		names[d.name] = true
		if got, ok := KindByName(d.name); !ok || got != k {
			t.Errorf("%s: KindByName does not find it", d.name)
		}
		if k == KindUserRule {
			continue
		}
		if d.description == "" || d.example == "" || len(d.matches) == 0 || len(d.ignores) == 0 {
			t.Errorf("%s: a rule needs a description, an example, matches and ignores", d.name)
		}
		bys := map[string]bool{}
		for _, by := range detectorNames {
			bys[by] = true
		}
		for i, m := range d.matches {
			if m.Want == "" || !bytes.Contains([]byte(m.In), []byte(m.Want)) && m.By != "shape" {
				t.Errorf("%s: match %d does not name its span", d.name, i)
			}
			if !bys[m.By] {
				t.Errorf("%s: match %d: %q is not a way of finding", d.name, i, m.By)
			}
		}
	}
	if len(Rules()) != int(kindCount)-1 {
		t.Errorf("Rules lists %d kinds, want %d", len(Rules()), kindCount-1)
	}
}

func hasKind(spans []Span, k Kind) bool {
	for _, sp := range spans {
		if sp.Kind == k {
			return true
		}
	}
	return false
}

func spanKinds(spans []Span) string {
	s := ""
	for _, sp := range spans {
		s += sp.Kind.String() + " "
	}
	return "[" + s + "]"
}
