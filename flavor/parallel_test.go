package flavor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// TestForEachLimits: no more than limit calls run at once (the first
// limit calls wait until all of them are running, so the limit is reached).
func TestForEachLimits(t *testing.T) {
	var running, most, started atomic.Int32
	full := make(chan struct{})
	err := forEach(context.Background(), 20, 3, func(ctx context.Context, i int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if started.Add(1) == 3 {
			close(full)
		}
		if i < 3 {
			<-full
		}
		return nil
	})
	if err != nil || started.Load() != 20 {
		t.Fatalf("err = %v, %d calls; want nil and 20", err, started.Load())
	}
	if m := most.Load(); m != 3 {
		t.Errorf("at most %d calls ran at once, want the limit 3", m)
	}
}

// TestForEachStopsAtFirstError: the first error is returned, a running call
// sees its context cancelled, and no call starts after the failure.
func TestForEachStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	var later atomic.Int32
	err := forEach(context.Background(), 10, 2, func(ctx context.Context, i int) error {
		switch i {
		case 0:
			<-ctx.Done() // released only by the cancellation
			return ctx.Err()
		case 1:
			return boom
		}
		later.Add(1)
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the first error", err)
	}
	if n := later.Load(); n != 0 {
		t.Errorf("%d calls started after the failure", n)
	}
}

// TestForEachCancelledParent: a cancelled parent context starts nothing and
// is returned as the error.
func TestForEachCancelledParent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	err := forEach(ctx, 10, 2, func(context.Context, int) error { calls.Add(1); return nil })
	if !errors.Is(err, context.Canceled) || calls.Load() != 0 {
		t.Fatalf("err = %v, calls = %d; want context.Canceled and no call", err, calls.Load())
	}
	if err := forEach(context.Background(), 10, 0, func(context.Context, int) error { calls.Add(1); return nil }); err != nil || calls.Load() != 10 {
		t.Fatalf("err = %v, calls = %d; want nil and 10 calls", err, calls.Load())
	}
}
