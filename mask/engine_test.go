package mask

import "testing"

// A pseudonym-shaped value the mappings do not know is looked up once and
// then remembered as unknown; issuing it later makes it restorable at once.
func TestUnknownPseudonymsAreRememberedUntilIssued(t *testing.T) {
	maps := &countingMappings{MemoryMappings: NewMemoryMappings()}
	e, err := New([]byte("seed"), maps, nil)
	if err != nil {
		t.Fatal(err)
	}
	// the pseudonym the engine would issue, learned from a twin engine
	twin, _ := New([]byte("seed"), NewMemoryMappings(), nil)
	orig := []byte("instance i-0123456789abcdef0")
	p, err := twin.MaskBytes(orig, nil)
	if err != nil || string(p) == string(orig) {
		t.Fatalf("twin did not mask: %v", err)
	}
	for range 3 {
		got, err := e.UnmaskBytes(p, nil)
		if err != nil || string(got) != string(p) {
			t.Fatalf("an unissued pseudonym changed: %v", err)
		}
	}
	if maps.lookups != 1 {
		t.Fatalf("looked up %d times, want 1", maps.lookups)
	}
	if _, err := e.MaskBytes(orig, nil); err != nil {
		t.Fatal(err)
	}
	got, err := e.UnmaskBytes(p, nil)
	if err != nil || string(got) != string(orig) {
		t.Fatal("a pseudonym issued after it was seen unknown is not restored")
	}
}

type countingMappings struct {
	*MemoryMappings
	lookups int
}

func (c *countingMappings) Lookup(p []string) ([]string, error) {
	c.lookups++
	return c.MemoryMappings.Lookup(p)
}
