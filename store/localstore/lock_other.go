//go:build !unix

package localstore

import "os"

// Without flock there is no way to tell a live writer from a dead one, so
// writers proceed unlocked and sweeps never remove anything (a killed
// upload's temp file stays, as before).
const canLock = false

const oNoFollow = 0

func tryLock(*os.File) (bool, error) { return false, nil }
