//go:build unix

package mlflow

import (
	"errors"
	"os"
	"syscall"
)

// lockFile opens (creating) and exclusively flocks name without waiting.
// ok=false: another process holds it, or it cannot be used. A lock taken on
// a file that was meanwhile removed (its holder finished and cleaned up)
// does not count: the path must still name the locked file.
func lockFile(name string) (*os.File, bool) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false
	}
	rc, err := f.SyscallConn()
	var lerr error
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			for {
				lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
				if !errors.Is(lerr, syscall.EINTR) {
					return
				}
			}
		})
	}
	if err != nil || lerr != nil {
		f.Close()
		return nil, false
	}
	held, err1 := f.Stat()
	named, err2 := os.Stat(name)
	if err1 != nil || err2 != nil || !os.SameFile(held, named) {
		f.Close()
		return nil, false
	}
	return f, true
}
