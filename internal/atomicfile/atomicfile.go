// Package atomicfile writes a file so that a reader sees the old content
// or the new, never a part, and a crash leaves one of the two: a temporary
// file of its own beside the target, written, synced, renamed over it,
// and the directory synced.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write replaces path with data. The temporary file is created with mode
// 0600 and gets perm before the rename.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cherr := f.Chmod(perm)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, cherr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not supported everywhere; the rename is what matters
		d.Close()
	}
	return nil
}
