//go:build windows

package store

import "context"

// turnstile: on Windows the store's own lock is waited for in the system,
// in turn.
func (s *Store) turnstile(context.Context) (func(), error) { return func() {}, nil }
