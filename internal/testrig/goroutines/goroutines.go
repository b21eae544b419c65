package goroutines

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Count is how many goroutines have a frame of code whose qualified name
// contains marker (for instance "internal/hashpipe.").
func Count(marker string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, marker) {
			n++
		}
	}
	return n
}

// WaitNone fails t unless, within 10 s, no goroutine runs code named by
// marker. The wait is bounded, not skipped: a goroutine that has just done
// its last step (closed a channel, or a body the transport closes on its
// own goroutine) may still be returning.
func WaitNone(t testing.TB, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for Count(marker) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still running %s code", Count(marker), marker)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
