//go:build !linux

package shellwrap

import "time"

// subreaper: other systems have no way for a process to adopt its
// child's orphans.
func subreaper() {}

// EndLeftovers: on other systems, what the child left running cannot be
// found; nothing is done.
func EndLeftovers(time.Duration) (ended, stuck int) { return 0, 0 }
