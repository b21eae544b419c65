package testenv

import (
	"errors"
	"net"
	"testing"
	"time"
)

// A frontend port taken before the dev server binds it is noticed in the
// server's log at once (it used to wait out the 60 s start timeout and fail
// the test; seen in a clean-clone `make test` when a parallel dev server took
// the port FreePort had returned).
func TestTakenPortIsNoticedAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	began := time.Now()
	tp, err := startTemporal(t, TemporalOptions{Port: ln.Addr().(*net.TCPAddr).Port})
	if err == nil {
		tp.Stop(t)
		t.Fatal("the dev server started on a taken port")
	}
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a taken port: %v, want errPortTaken", err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Fatalf("noticed after %s; it should not wait for the start timeout", took)
	}
}
