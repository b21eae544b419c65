package main

import (
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"sync"
	"time"
)

// tracingTransport prints every request's method, path, time and whether it
// reused a pooled connection (-trace), to see where an in-process scenario
// spends its time.
type tracingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	reused := false
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	t0 := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.mu.Lock()
	fmt.Fprintf(os.Stderr, "trace %6.1f ms reused=%t %s %s\n", float64(time.Since(t0).Microseconds())/1000, reused, req.Method, req.URL.Path)
	t.mu.Unlock()
	return resp, err
}
