//go:build !windows

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses a state directory, key file or store file that
// another user could read or change, as ssh refuses a private key: the
// store key, and everything the store key opens, would be theirs. A path
// that does not exist yet passes (it is created private).
func checkPrivate(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	what, want := "file", "600"
	if dir {
		what, want = "directory", "700"
	}
	if fi.Mode()&fs.ModeSymlink != 0 && !dir {
		return &PermissionError{Path: path, Problem: "is a symbolic link", Fix: "replace it with the file itself"}
	}
	if dir {
		// the state directory may be reached through a link; it is the
		// directory itself that must be private
		if fi, err = os.Stat(path); err != nil {
			return err
		}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("belongs to another user (uid %d)", st.Uid), Fix: "use a state directory of your own (CLAUDE_SECURE_HOME)"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("is a %s other users can reach (mode %04o)", what, perm), Fix: fmt.Sprintf("chmod %s %s", want, path)}
	}
	return nil
}
