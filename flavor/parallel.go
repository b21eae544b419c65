package flavor

// Bounded parallelism for uploads and downloads.

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// DefaultParallelism is how many files move at once when the caller does not
// say: enough to hide per-request latency, few enough not to flood a server.
const DefaultParallelism = 4

// forEach runs fn for every index in [0, n) with at most limit calls in
// flight. The first error cancels the context passed to the others and is
// returned; later errors are dropped (they are usually that cancellation).
// Once the context is done no further call starts, and a cancelled ctx is
// returned as its error even when every call that ran succeeded, so a
// caller never takes a partial run for a complete one.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if limit <= 0 {
		limit = DefaultParallelism
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// g.Go may have waited for a slot while another call failed.
			if gctx.Err() != nil {
				return nil
			}
			return fn(gctx, i)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
