//go:build windows

package store

// checkPrivate: on Windows a user's profile directory is private by its
// ACL, which this does not inspect.
func checkPrivate(string, bool) error { return nil }
