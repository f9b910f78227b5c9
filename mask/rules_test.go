package mask

import (
	"fmt"
	"testing"
)

// TestRules runs every detector's true and false positives. Test names
// carry the rule and an index, never the value.
func TestRules(t *testing.T) {
	sc := scanner{}
	for _, r := range Rules() {
		for i, m := range r.Matches {
			t.Run(fmt.Sprintf("%s/match-%d", r.Kind, i), func(t *testing.T) {
				spans, _ := scanView(&sc, []byte(m))
				if !hasKind(spans, r.Kind) {
					t.Errorf("match %d of %s: not found (found %s)", i, r.Kind, spanKinds(spans))
				}
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
