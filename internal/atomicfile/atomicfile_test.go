package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Writers racing on one file each leave it whole: the file always holds
// one writer's content, and no temporary file is left behind.
func TestWriteIsWholeUnderRaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			data := []byte{byte('a' + i), byte('a' + i), byte('a' + i)}
			if err := Write(p, data, 0o600); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b, err := os.ReadFile(p)
	if err != nil || len(b) != 3 || b[0] != b[1] || b[1] != b[2] {
		t.Fatalf("content %q, %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want the one", len(entries))
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}
