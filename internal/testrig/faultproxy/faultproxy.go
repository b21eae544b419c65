// Package faultproxy is a loopback reverse proxy for fault tests: it sits in
// front of a real server (an `mlflow server`), forwards every request, and
// for chosen requests loses the answer after the server has acted on it —
// closing the connection or answering 502/504 instead — which is the
// ambiguous failure exactly-once code must survive. It can also hold every
// request (Pause/Resume) to simulate an outage, and it counts what it sees.
package faultproxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Action is what happens to the answer of a matching request.
type Action int

const (
	// Forward passes the answer on (use with Rule.Before for hooks only).
	Forward Action = iota
	// Close reads the server's whole answer, then closes the client's
	// connection without writing anything.
	Close
	// BadGateway answers 502 with an HTML body, as a load balancer would.
	BadGateway
	// GatewayTimeout answers 504 with an HTML body.
	GatewayTimeout
	// Refuse closes the client's connection without forwarding: the server
	// is down (nothing was committed).
	Refuse
	// Truncate passes the answer on with only the first half of its body
	// (at least one byte short) and a Content-Length that matches what is
	// sent: a response damaged on the way that looks complete, which only
	// a checksum can catch.
	Truncate
	// Reply answers Rule.Status with Rule.Body (JSON) without forwarding:
	// a canned server error, nothing committed.
	Reply
	// EmptyJSON answers 200 with the body {} after the server has acted: a
	// broken gateway or server that answers with nothing useful.
	EmptyJSON
)

func (a Action) String() string {
	return [...]string{"forward", "close", "502", "504", "refuse", "truncate", "reply", "{}"}[a]
}

// Rule picks requests and what to do with their answers. Every field is
// optional: the zero Rule matches everything and does nothing.
type Rule struct {
	Method string         // exact method ("" any)
	Path   *regexp.Regexp // matched against the URL path (nil any)
	Action Action
	// Skip lets the first Skip matching requests through untouched.
	Skip int
	// Count applies the rule to at most Count requests after Skip (0: all).
	Count int
	// Probability applies the rule to a matching request with this
	// probability (0 means always).
	Probability float64
	// Before, when set, runs before the request is forwarded; it may block
	// (to hold one request while a test changes the server's state).
	Before func(*http.Request)
	// Status and Body are the answer of a Reply rule.
	Status int
	Body   string

	seen, applied int
}

// Stats counts what the proxy did.
type Stats struct {
	Requests int64            // requests received
	Faults   map[string]int64 // answers lost, by "METHOD path-pattern action"
	// UploadBytes is request body bytes forwarded for PUTs (artifact
	// uploads), including those of uploads cut short.
	UploadBytes int64
}

// Proxy is a running proxy; URL is its base URL.
type Proxy struct {
	URL    string
	target *url.URL
	srv    *http.Server
	ln     net.Listener
	tr     *http.Transport

	mu     sync.Mutex
	rules  []*Rule
	rng    *rand.Rand
	faults map[string]int64
	resume chan struct{} // non-nil while paused; closed by Resume

	requests, uploadBytes, uploadsInFlight, inFlightBytes atomic.Int64
	uploadRate                                            atomic.Int64 // bytes/s per upload; 0: unlimited
}

// Start listens on a free 127.0.0.1 port and forwards to target (a base URL
// such as http://127.0.0.1:5000). seed makes probabilistic rules repeatable.
func Start(target string, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, errors.New("faultproxy: target must be a loopback address, not " + h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		target: u,
		ln:     ln,
		tr:     &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 10 * time.Minute},
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		faults: map[string]int64{},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetRules replaces the rules; the first matching rule that applies wins.
func (p *Proxy) SetRules(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = p.rules[:0]
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
}

// Pause holds every new request (and those arriving later) until Resume.
// Requests already forwarded finish normally.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// Resume releases held requests.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

// UploadsInFlight is how many PUT bodies are being forwarded right now.
func (p *Proxy) UploadsInFlight() int64 { return p.uploadsInFlight.Load() }

// InFlightUploadBytes is how many bytes of the PUTs being forwarded right
// now have passed so far: above zero, a kill lands inside a file.
func (p *Proxy) InFlightUploadBytes() int64 { return p.inFlightBytes.Load() }

// SetUploadRate limits every PUT body to bytesPerSecond (0: unlimited), so
// an upload lasts long enough to be interrupted.
func (p *Proxy) SetUploadRate(bytesPerSecond int64) { p.uploadRate.Store(bytesPerSecond) }

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := make(map[string]int64, len(p.faults))
	for k, v := range p.faults {
		f[k] = v
	}
	return Stats{Requests: p.requests.Load(), Faults: f, UploadBytes: p.uploadBytes.Load()}
}

// Total is the number of answers lost.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// Close stops the proxy and releases held requests.
func (p *Proxy) Close() {
	p.Resume()
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

// pick returns the rule to apply to r, or nil, counting matches.
func (p *Proxy) pick(r *http.Request) (*Rule, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	held := p.resume
	for _, rule := range p.rules {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if rule.Path != nil && !rule.Path.MatchString(r.URL.Path) {
			continue
		}
		rule.seen++
		if rule.seen <= rule.Skip || (rule.Count > 0 && rule.applied >= rule.Count) {
			continue
		}
		if rule.Probability > 0 && p.rng.Float64() >= rule.Probability {
			continue
		}
		rule.applied++
		if rule.Action != Forward {
			key := r.Method + " " + pattern(rule) + " " + rule.Action.String()
			p.faults[key]++
		}
		return rule, held
	}
	return nil, held
}

func pattern(r *Rule) string {
	if r.Path == nil {
		return "*"
	}
	return r.Path.String()
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	rule, held := p.pick(r)
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	if rule != nil && rule.Before != nil {
		rule.Before(r)
	}
	if rule != nil && rule.Action == Refuse {
		closeConn(w)
		return
	}
	if rule != nil && rule.Action == Reply {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rule.Status)
		_, _ = io.WriteString(w, rule.Body)
		return
	}
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.Host = p.target.Host
	if r.Method == http.MethodPut && r.Body != nil {
		body := &countingBody{ReadCloser: r.Body, total: &p.uploadBytes, inFlight: &p.inFlightBytes, rate: &p.uploadRate}
		p.uploadsInFlight.Add(1)
		defer func() {
			p.uploadsInFlight.Add(-1)
			p.inFlightBytes.Add(-body.n.Load())
		}()
		out.Body = body
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	action := Forward
	if rule != nil {
		action = rule.Action
	}
	switch action {
	case Forward:
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	case Truncate:
		body, _ := io.ReadAll(resp.Body)
		body = body[:len(body)/2]
		for k, vs := range resp.Header {
			if k == "Content-Length" || k == "Transfer-Encoding" {
				continue
			}
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		// Set even when the server sent none (a chunked answer): the
		// client must see a well-formed, complete-looking response.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	// The server has acted on the request; read its answer and lose it.
	_, _ = io.Copy(io.Discard, resp.Body)
	switch action {
	case Close:
		closeConn(w)
	case BadGateway, GatewayTimeout:
		code := http.StatusBadGateway
		if action == GatewayTimeout {
			code = http.StatusGatewayTimeout
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "<html><body><h1>"+strings.ToLower(http.StatusText(code))+"</h1></body></html>\n")
	case EmptyJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "{}")
	}
}

// closeConn drops the client's connection without an answer.
func closeConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type countingBody struct {
	io.ReadCloser
	n                     atomic.Int64
	total, inFlight, rate *atomic.Int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	if rate := c.rate.Load(); rate > 0 {
		b = b[:min(len(b), 32<<10)]
		time.Sleep(time.Duration(int64(len(b)) * int64(time.Second) / rate))
	}
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	c.total.Add(int64(n))
	c.inFlight.Add(int64(n))
	return n, err
}
