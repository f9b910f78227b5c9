// Package goroutines lets tests see which goroutines are where: a test
// that ends a wait checks that nothing is left waiting.
package goroutines

import (
	"runtime"
	"strings"
	"time"
)

// In returns the stacks of the goroutines whose stack mentions any of fns
// (function names or package paths, such as "mask/store.").
func In(fns ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range fns {
			if strings.Contains(g, fn) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Eventually waits, up to a generous bound (10 seconds), for cond, and
// reports whether it came true.
func Eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
