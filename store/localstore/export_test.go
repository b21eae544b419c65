package localstore

import "time"

// SetBusyTimeout changes the busy timeout for stores opened afterwards and
// returns a function restoring it. Tests using it must not run in parallel.
func SetBusyTimeout(d time.Duration) (restore func()) {
	old := busyTimeout
	busyTimeout = d
	return func() { busyTimeout = old }
}
