package hashpipe

import (
	"context"
	"hash"
	"io"
	"sync"
)

// Reader reads src ahead on its own goroutine and hashes what it read on
// another; Read hands out the same bytes. It is an upload body: the HTTP
// transport reads it while the hash is computed beside it, and Result says
// what was read once the transport is done. A retry opens a new Reader.
//
// Read and Close may be called from different goroutines (the transport
// closes bodies where it likes); Close stops both goroutines and waits for
// them.
type Reader struct {
	src  io.ReadCloser
	h    hash.Hash
	ring *ring

	ctx    context.Context
	cancel context.CancelFunc

	toRead chan *chunk // in order, to Read
	toHash chan *chunk // in order, to the hasher
	done   chan struct{}

	// Set by the reading goroutine before it closes toRead and toHash.
	n      int64
	srcErr error // io.EOF when src ended cleanly

	mu     sync.Mutex // Read and Close
	cur    *chunk
	off    int
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// NewReader starts reading src. sizeHint is the expected size (negative
// when unknown); it only sizes the buffers. h receives every byte, in order.
func NewReader(src io.ReadCloser, h hash.Hash, sizeHint int64) *Reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{
		src: src, h: h, ring: newRing(sizeHint), ctx: ctx, cancel: cancel,
		toRead: make(chan *chunk, Depth), toHash: make(chan *chunk, Depth), done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.produce() }()
	go func() {
		defer wg.Done()
		for c := range r.toHash {
			r.h.Write(c.data())
			r.ring.release(c)
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
	return r
}

// produce fills chunks from src until it ends, fails or the Reader closes.
// Both channels have room for every chunk, so the sends never block.
func (r *Reader) produce() {
	defer close(r.toHash)
	defer close(r.toRead)
	for {
		c := r.ring.get(r.ctx.Done())
		if c == nil {
			r.srcErr = ErrClosed
			return
		}
		err := fill(r.src, c)
		if c.n > 0 && err == nil {
			r.n += int64(c.n)
			c.refs.Store(2)
			r.toHash <- c
			r.toRead <- c
		} else {
			r.ring.free <- c
		}
		if err != nil {
			r.srcErr = err
			return
		}
	}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	for r.cur == nil {
		select {
		case c, ok := <-r.toRead:
			if !ok {
				return 0, r.srcErr // set before the close
			}
			r.cur, r.off = c, 0
		case <-r.ctx.Done():
			return 0, ErrClosed
		}
	}
	n := copy(p, r.cur.data()[r.off:])
	r.off += n
	if r.off == r.cur.n {
		r.ring.release(r.cur)
		r.cur = nil
	}
	return n, nil
}

// Close stops reading ahead, waits for both goroutines, closes src and
// recycles the buffers. It is safe to call more than once and concurrently
// with Read.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.cancel() // wakes a Read waiting for a chunk, stops the producer
		r.mu.Lock()
		r.closed = true
		r.cur = nil
		r.mu.Unlock()
		// Chunks still queued for Read are dropped: the producer may be
		// waiting for a free one only until ctx is done, which it is.
		<-r.done
		r.closeErr = r.src.Close()
		r.ring.recycle()
	})
	return r.closeErr
}

// Result waits until the source ended or the Reader was closed, and
// returns how many bytes were read from src, the hash of exactly those
// bytes, and whether src ended cleanly (io.EOF, nothing cut short by Close
// or a read error). After a clean end the hash covers the whole source,
// whatever the consumer did with the bytes.
func (r *Reader) Result() (n int64, sum []byte, complete bool) {
	<-r.done
	return r.n, r.h.Sum(nil), r.srcErr == io.EOF
}
