package mask

import (
	"os"
	"testing"
)

func BenchmarkDbgScanner(b *testing.B) {
	text, _ := os.ReadFile("/tmp/bench/mixed-3.txt")
	var v view
	v.build(text, viewState{}, true)
	sc := scanner{rules: &ruleSet{}}
	b.SetBytes(int64(len(text)))
	var sp []Span
	for b.Loop() {
		sp, _ = sc.scan(v.d, 0, true, sp)
	}
}
