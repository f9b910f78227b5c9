//go:build windows

package store

// turnstile: on Windows the store's own lock is waited for in the system,
// in turn.
func (s *Store) turnstile() (func(), error) { return func() {}, nil }
