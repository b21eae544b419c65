package hashpipe

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

const (
	// ChunkSize is the size of one read from the source: large enough that
	// the per-buffer hand-offs cost nothing next to the bytes moved.
	ChunkSize = 1 << 20
	// Depth is how many buffers one pipeline holds at most: one being
	// filled, one being hashed, one being consumed, one spare so the slowest
	// stage never waits for the others.
	Depth = 4
	// minChunkSize is the smallest buffer, for small inputs.
	minChunkSize = 32 << 10
)

// ErrClosed is what Read returns after Close.
var ErrClosed = errors.New("hashpipe: read after close")

// pool recycles full-size buffers between pipelines (and files), so a
// model of many large files does not allocate per file.
var pool = sync.Pool{New: func() any {
	b := make([]byte, ChunkSize)
	return &b
}}

// chunk is one buffer with the bytes of the stream it holds, handed to
// every consumer; the last one to release it puts it back on the free list.
type chunk struct {
	buf  *[]byte
	n    int
	refs atomic.Int32
}

func (c *chunk) data() []byte { return (*c.buf)[:c.n] }

// ring is a fixed free-list of at most Depth chunks. Buffers are taken from
// the pool on first use, sized to the expected input when it is small.
type ring struct {
	free    chan *chunk
	bufSize int
	all     []*chunk // every chunk handed out, returned to the pool at the end
	mu      sync.Mutex
}

// newRing sizes the buffers for sizeHint bytes (negative: unknown): a
// small input gets small buffers (allocated only when used) instead of
// full ones.
func newRing(sizeHint int64) *ring {
	r := &ring{free: make(chan *chunk, Depth), bufSize: ChunkSize}
	if sizeHint >= 0 && sizeHint < ChunkSize {
		// +1: the read that finds the end needs room to look. The floor
		// keeps a wrong hint from degenerating into tiny chunks.
		r.bufSize = min(ChunkSize, max(int(sizeHint)+1, minChunkSize))
	}
	for range Depth {
		r.free <- &chunk{}
	}
	return r
}

// get returns a free chunk with a buffer, or nil when done closes first.
func (r *ring) get(done <-chan struct{}) *chunk {
	select {
	case c := <-r.free:
		if c.buf == nil {
			if r.bufSize == ChunkSize {
				c.buf = pool.Get().(*[]byte)
			} else {
				b := make([]byte, r.bufSize)
				c.buf = &b
			}
			r.mu.Lock()
			r.all = append(r.all, c)
			r.mu.Unlock()
		}
		return c
	case <-done:
		return nil
	}
}

// release drops one reference; the last puts the chunk back. The free list
// has room for every chunk, so this never blocks.
func (r *ring) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		r.free <- c
	}
}

// recycle returns the buffers to the pool. Only once no goroutine can touch
// them any more.
func (r *ring) recycle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.all {
		if c.buf != nil && len(*c.buf) == ChunkSize {
			pool.Put(c.buf)
		}
		c.buf = nil
	}
	r.all = nil
}

// fill reads the next chunk from src: whole buffers, so that a socket
// handing out a few KiB at a time still yields large chunks downstream.
// It returns io.EOF only with an empty chunk.
func fill(src io.Reader, c *chunk) error {
	n, err := io.ReadFull(src, *c.buf)
	c.n = n
	if err == io.ErrUnexpectedEOF {
		return nil // a short last chunk (n > 0): the next fill finds io.EOF
	}
	return err
}
