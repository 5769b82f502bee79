package sqlstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingRead is a read whose calls are counted and each held until released;
// it answers with the value current when it was called.
type blockingRead struct {
	mu      sync.Mutex
	value   string
	calls   atomic.Int32
	release chan struct{}
}

func (b *blockingRead) read(ctx context.Context, key string) (string, error) {
	b.calls.Add(1)
	b.mu.Lock()
	v := b.value
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if v == "" {
		return "", errors.New("no value")
	}
	return key + "=" + v, nil
}

func (b *blockingRead) set(v string) {
	b.mu.Lock()
	b.value = v
	b.mu.Unlock()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *coalescer[V]) waiting(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil && f.next != nil {
		return f.next.callers
	}
	return 0
}

// TestCoalescerSharesOnlyLaterReads: calls that arrive while a read is under
// way share the next read, never the one under way, so each sees what was
// committed before it asked; twenty of them cost one query.
func TestCoalescerSharesOnlyLaterReads(t *testing.T) {
	b := &blockingRead{value: "old", release: make(chan struct{})}
	c := newCoalescer(time.Minute, b.read)
	ctx := context.Background()

	first := make(chan string, 1)
	go func() {
		v, err := c.get(ctx, "app")
		if err != nil {
			v = err.Error()
		}
		first <- v
	}()
	waitFor(t, "the first read to start", func() bool { return b.calls.Load() == 1 })

	b.set("new") // committed while the first read is under way
	const n = 20
	answers := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			v, err := c.get(ctx, "app")
			if err != nil {
				v = err.Error()
			}
			answers <- v
		}()
	}
	waitFor(t, "twenty calls to wait for the next read", func() bool { return c.waiting("app") == n })
	if got := b.calls.Load(); got != 1 {
		t.Fatalf("%d reads started while one was under way, want none", got-1)
	}

	b.release <- struct{}{} // the first read ends
	if v := <-first; v != "app=old" {
		t.Errorf("first call got %q, want app=old", v)
	}
	waitFor(t, "the second read to start", func() bool { return b.calls.Load() == 2 })
	b.release <- struct{}{}
	for i := 0; i < n; i++ {
		if v := <-answers; v != "app=new" {
			t.Errorf("a call made after the change got %q, want app=new", v)
		}
	}
	if got := b.calls.Load(); got != 2 {
		t.Errorf("%d reads for 21 calls, want 2", got)
	}
	waitFor(t, "the flight to end", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	})

	// Another key is read on its own, and errors reach every caller.
	b.set("")
	go func() { b.release <- struct{}{} }()
	if _, err := c.get(ctx, "other"); err == nil || err.Error() != "no value" {
		t.Errorf("error: got %v, want the read's error", err)
	}
}

// TestCoalescerCallerGivesUp: a caller whose context ends gets its error at
// once; the shared read goes on and answers those still waiting.
func TestCoalescerCallerGivesUp(t *testing.T) {
	b := &blockingRead{value: "v", release: make(chan struct{})}
	c := newCoalescer(time.Minute, b.read)
	waiter := make(chan string, 1)
	go func() {
		v, _ := c.get(context.Background(), "app")
		waiter <- v
	}()
	waitFor(t, "the read to start", func() bool { return b.calls.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, "app")
		gaveUp <- err
	}()
	waitFor(t, "the second call to wait", func() bool { return c.waiting("app") == 1 })
	cancel()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller whose context ended kept waiting")
	}
	b.release <- struct{}{}
	if v := <-waiter; v != "app=v" {
		t.Errorf("the caller still waiting got %q", v)
	}
	b.release <- struct{}{} // the round the cancelled caller had joined still runs
	waitFor(t, "the flight to end", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	})
}
