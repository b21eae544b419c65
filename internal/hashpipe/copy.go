package hashpipe

import (
	"context"
	"hash"
	"io"
	"sync"
)

// Copy copies src to dst and writes the same bytes to h, as
// io.Copy(io.MultiWriter(dst, h), src) does, but src is read in the calling
// goroutine while dst is written on one goroutine and h fed on another, so
// the three overlap. dst may be nil: then the bytes are only hashed.
// sizeHint sizes the buffers (negative: unknown).
//
// It returns the bytes read from src. On a read or write error, or when ctx
// ends, it stops reading and returns the error (ctx's cause for the latter);
// the hash then covers a prefix only. It returns only after both goroutines
// have stopped.
func Copy(ctx context.Context, dst io.Writer, src io.Reader, h hash.Hash, sizeHint int64) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rg := newRing(sizeHint)
	defer rg.recycle() // after wg.Wait below: nothing touches a buffer then
	refs := int32(1)
	var toWrite chan *chunk
	if dst != nil {
		refs, toWrite = 2, make(chan *chunk, Depth)
	}
	toHash := make(chan *chunk, Depth)
	var (
		wg      sync.WaitGroup
		writeMu sync.Mutex
		wErr    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range toHash {
			h.Write(c.data())
			rg.release(c)
		}
	}()
	if dst != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range toWrite {
				writeMu.Lock()
				failed := wErr != nil
				writeMu.Unlock()
				if !failed {
					if _, err := dst.Write(c.data()); err != nil {
						writeMu.Lock()
						wErr = err
						writeMu.Unlock()
						cancel(err) // stop the reader at its next chunk
					}
				}
				rg.release(c)
			}
		}()
	}
	var (
		n    int64
		rErr error
	)
	for {
		c := rg.get(ctx.Done())
		if c == nil {
			rErr = context.Cause(ctx)
			break
		}
		err := fill(src, c)
		if c.n > 0 && err == nil {
			n += int64(c.n)
			c.refs.Store(refs)
			toHash <- c
			if toWrite != nil {
				toWrite <- c
			}
		} else {
			rg.free <- c
		}
		if err != nil {
			if err != io.EOF {
				rErr = err
			}
			break
		}
	}
	close(toHash)
	if toWrite != nil {
		close(toWrite)
	}
	wg.Wait()
	switch {
	case wErr != nil:
		return n, wErr
	case rErr != nil:
		return n, rErr
	case ctx.Err() != nil:
		return n, context.Cause(ctx)
	}
	return n, nil
}
