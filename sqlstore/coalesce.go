package sqlstore

import (
	"context"
	"sync"
	"time"
)

// coalescer shares reads of the same key among callers that arrive together,
// without ever answering from a read that began before the caller arrived. A
// call finding no read of its key under way starts one. A call finding one
// under way waits for the next, which starts as soon as the one under way
// ends and answers every call that waited for it. So under load the database
// sees at most one read per key at a time, however many callers there are,
// and each answer is as fresh as a read of the caller's own: it comes from a
// query that began after the call. This is group commit's counterpart for
// reads.
type coalescer[V any] struct {
	read    func(ctx context.Context, key string) (V, error)
	timeout time.Duration // bounds one shared read; no caller's context ends it

	mu      sync.Mutex
	flights map[string]*flight[V]
}

// flight is the reads of one key: one under way, and the next one's callers.
type flight[V any] struct {
	next *round[V]
}

// round is one shared read and its outcome.
type round[V any] struct {
	done    chan struct{}
	callers int // how many calls wait for it (guarded by coalescer.mu)
	value   V
	err     error
}

func newCoalescer[V any](timeout time.Duration, read func(ctx context.Context, key string) (V, error)) *coalescer[V] {
	return &coalescer[V]{read: read, timeout: timeout, flights: make(map[string]*flight[V])}
}

// get returns the outcome of a read of key that began after get was called,
// or ctx's error if ctx ends first (the shared read goes on for the others).
func (c *coalescer[V]) get(ctx context.Context, key string) (V, error) {
	c.mu.Lock()
	f, running := c.flights[key]
	var r *round[V]
	if !running {
		f = &flight[V]{}
		c.flights[key] = f
		r = &round[V]{done: make(chan struct{})}
		go c.fly(key, f, r)
	} else {
		if f.next == nil {
			f.next = &round[V]{done: make(chan struct{})}
		}
		r = f.next
	}
	r.callers++
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.value, r.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// fly runs the reads of one key until no caller waits for another.
func (c *coalescer[V]) fly(key string, f *flight[V], r *round[V]) {
	for r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		r.value, r.err = c.read(ctx, key)
		cancel()
		close(r.done)
		c.mu.Lock()
		r, f.next = f.next, nil
		if r == nil {
			delete(c.flights, key)
		}
		c.mu.Unlock()
	}
}
