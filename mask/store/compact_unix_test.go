//go:build !windows

package store

import (
	"os"
	"syscall"
	"testing"
)

// The store keeps each mapping once, in a sealed log chunk: at most 150
// bytes a mapping on disk (the lookup buckets of format 2 took about 650).
func TestStoreIsCompact(t *testing.T) {
	dir := t.TempDir()
	const n = 40000
	storeOfChunks(t, dir, []int{8000, 8000, 8000, 8000, 8000})
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	used := fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		used = min(used, st.Blocks*512) // bbolt grows the file ahead of its pages
	}
	if per := used / n; per > 150 {
		t.Errorf("%d bytes a mapping on disk, want at most 150", per)
	} else {
		t.Logf("%d bytes a mapping on disk (%d in the file)", per, fi.Size()/n)
	}
}
