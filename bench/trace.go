package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// tracingTransport prints every request's method, path and time (-trace),
// to see where an in-process scenario spends its time.
type tracingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.mu.Lock()
	fmt.Fprintf(os.Stderr, "trace %6.1f ms %s %s\n", float64(time.Since(t0).Microseconds())/1000, req.Method, req.URL.Path)
	t.mu.Unlock()
	return resp, err
}
