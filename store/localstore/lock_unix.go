//go:build unix

package localstore

import (
	"errors"
	"os"
	"syscall"
)

// canLock: flock(2) is available, see tmpfiles.go.
const canLock = true

const oNoFollow = syscall.O_NOFOLLOW

// tryLock takes an exclusive flock on f without waiting. It reports false,
// nil when another open file description holds the lock.
func tryLock(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if !errors.Is(lerr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return lerr == nil, lerr
}
