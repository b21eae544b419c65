package flavor

// Bounded parallelism for uploads and downloads.

import (
	"context"
	"sync"
)

// DefaultParallelism is how many files move at once when the caller does not
// say: enough to hide per-request latency, few enough not to flood a server.
const DefaultParallelism = 4

// forEach runs fn for every index in [0, n) with at most limit calls in
// flight. The first error cancels the context passed to the others and is
// returned; later errors are dropped (they are usually that cancellation).
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if limit <= 0 {
		limit = DefaultParallelism
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	sem := make(chan struct{}, limit)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
