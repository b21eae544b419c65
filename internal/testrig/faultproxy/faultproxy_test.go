package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func backend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func start(t *testing.T, target string) *Proxy {
	p, err := Start(target, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestForwardsAndLosesAnswersAfterCommit(t *testing.T) {
	srv, hits := backend(t)
	p := start(t, srv.URL)
	create := regexp.MustCompile(`/create$`)
	p.SetRules(
		Rule{Method: http.MethodPost, Path: create, Action: Close, Count: 1},
		Rule{Method: http.MethodPost, Path: create, Action: BadGateway, Count: 1},
		Rule{Method: http.MethodPost, Path: create, Action: GatewayTimeout, Count: 1},
	)
	post := func() (int, string, error) {
		resp, err := http.Post(p.URL+"/api/x/create", "text/plain", strings.NewReader("body"))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if _, _, err := post(); err == nil {
		t.Fatal("first create: want a dropped connection, got an answer")
	}
	if code, _, _ := post(); code != http.StatusBadGateway {
		t.Fatalf("second create: status %d, want 502", code)
	}
	if code, _, _ := post(); code != http.StatusGatewayTimeout {
		t.Fatalf("third create: status %d, want 504", code)
	}
	code, body, err := post()
	if err != nil || code != 200 || body != "POST /api/x/create body" {
		t.Fatalf("fourth create: %d %q %v, want the server's answer", code, body, err)
	}
	if hits.Load() != 4 {
		t.Fatalf("server saw %d requests, want 4: lost answers must still reach it", hits.Load())
	}
	if s := p.Stats(); s.Total() != 3 || s.Requests != 4 {
		t.Fatalf("stats %+v, want 3 faults of 4 requests", s)
	}
}

func TestSkipAndProbability(t *testing.T) {
	srv, _ := backend(t)
	p := start(t, srv.URL)
	p.SetRules(Rule{Path: regexp.MustCompile(`^/a`), Action: BadGateway, Skip: 2, Probability: 0.5})
	codes := map[int]int{}
	for range 200 {
		resp, err := http.Get(p.URL + "/a")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[502] < 60 || codes[502] > 140 || codes[200] < 60 {
		t.Fatalf("status counts %v, want about half 502 after two skipped", codes)
	}
}

func TestPauseHoldsUntilResume(t *testing.T) {
	srv, hits := backend(t)
	p := start(t, srv.URL)
	p.Pause()
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(p.URL + "/held")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-done:
		t.Fatal("request answered while paused")
	case <-time.After(200 * time.Millisecond):
	}
	if hits.Load() != 0 {
		t.Fatal("paused request reached the server")
	}
	p.Resume()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("status %d after resume", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still held 5 s after Resume")
	}
}

func TestUploadBytesCounted(t *testing.T) {
	srv, _ := backend(t)
	p := start(t, srv.URL)
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/f", strings.NewReader(strings.Repeat("x", 1000)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := p.Stats().UploadBytes; got != 1000 {
		t.Fatalf("upload bytes %d, want 1000", got)
	}
}

func TestRefusesNonLoopbackTarget(t *testing.T) {
	if _, err := Start("http://example.com:80", 1); err == nil {
		t.Fatal("want an error for a non-loopback target")
	}
}

func TestRefuseDoesNotForward(t *testing.T) {
	srv, hits := backend(t)
	p := start(t, srv.URL)
	p.SetRules(Rule{Action: Refuse})
	if resp, err := http.Get(p.URL + "/x"); err == nil {
		resp.Body.Close()
		t.Fatalf("status %d, want a closed connection", resp.StatusCode)
	}
	if hits.Load() != 0 {
		t.Fatal("a refused request reached the server")
	}
}

func TestUploadRate(t *testing.T) {
	srv, _ := backend(t)
	p := start(t, srv.URL)
	p.SetUploadRate(1 << 20)
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/f", strings.NewReader(strings.Repeat("x", 256<<10)))
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Fatalf("256 KiB at 1 MiB/s took %s, want about 250 ms", took)
	}
}

// TestTruncateOnce: the answer arrives with half its body and a matching
// Content-Length, chunked or not, and only once.
func TestTruncateOnce(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		body := strings.Repeat("0123456789", 100)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if chunked {
				_, _ = io.WriteString(w, body[:10])
				w.(http.Flusher).Flush() // no Content-Length: chunked
				_, _ = io.WriteString(w, body[10:])
				return
			}
			_, _ = io.WriteString(w, body)
		}))
		p := start(t, srv.URL)
		p.SetRules(Rule{Method: http.MethodGet, Action: Truncate, Count: 1})
		get := func() (int64, string) {
			resp, err := http.Get(p.URL + "/f")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("chunked=%v: a truncated answer must read cleanly: %v", chunked, err)
			}
			return resp.ContentLength, string(b)
		}
		if n, b := get(); n != int64(len(body)/2) || b != body[:len(body)/2] {
			t.Errorf("chunked=%v: first answer Content-Length %d, %d bytes; want %d", chunked, n, len(b), len(body)/2)
		}
		if _, b := get(); b != body {
			t.Errorf("chunked=%v: second answer has %d bytes, want the whole %d", chunked, len(b), len(body))
		}
		srv.Close()
	}
}
