package store

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
)

// Batcher is group commit: it hands the requests given to Do to one commit
// function in batches, one batch at a time, in the order the requests were
// taken. A request that finds no commit running and nobody queued is
// committed at once, alone, on its caller's goroutine; the requests that
// arrive while a commit runs queue and go out together in the next one,
// at most size of them, from a goroutine of the Batcher's. So under load
// a commit's fixed cost (an fsync) is shared by the whole batch, a lone
// writer never waits for company, as it would with a batching delay, and
// it never waits for another goroutine to be scheduled either: on a quiet
// machine waking one can cost more than the commit.
//
// Commits never overlap, so commit may keep state between calls without
// locking (state that other goroutines read still needs its own lock),
// and batches are handed over in the order they were formed. commit must
// not call Do on the same Batcher.
type Batcher[T any] struct {
	max    int
	commit func(batch []T)

	mu     sync.Mutex
	idle   sync.Cond       // signalled when busy turns false
	queue  []*batchItem[T] // waiting to be taken, in arrival order
	busy   bool            // a commit runs, inline or on the worker
	closed bool            // Close was called: nothing more is taken
	lone   []T             // the inline commit's batch, owned by whoever is busy
	wake   chan struct{}   // the worker has requests to take (capacity 1)
	stop   chan struct{}   // closed by Close, stops the worker
	exited chan struct{}   // closed when the worker returns
	once   sync.Once
}

type batchItem[T any] struct {
	req   T
	taken bool  // under mu: a batch holds it
	err   error // ErrClosed if Close came before it was taken
	done  chan struct{}
}

// NewBatcher starts a Batcher that calls commit with batches of at most
// size requests (size < 1 means 1). commit reports each request's outcome in the
// request itself (T is usually a pointer); Do returns after commit returned.
func NewBatcher[T any](size int, commit func(batch []T)) *Batcher[T] {
	b := &Batcher[T]{
		max:    max(size, 1),
		commit: commit,
		lone:   make([]T, 1),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	b.idle.L = &b.mu
	go b.run()
	return b
}

// Do hands req to the committer and returns once the batch holding it has
// been committed. It returns ctx.Err() if ctx ends before req is taken
// (then req is never committed), and ErrClosed after Close. Once taken, req
// is committed whatever ctx does: waiting for the outcome, not for ctx,
// keeps "returned" meaning "committed".
func (b *Batcher[T]) Do(ctx context.Context, req T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if !b.busy && len(b.queue) == 0 {
		b.busy = true
		b.mu.Unlock()
		b.commitInline(req)
		return nil
	}
	it := &batchItem[T]{req: req, done: make(chan struct{})}
	b.queue = append(b.queue, it)
	b.mu.Unlock()
	b.signal()
	select {
	case <-it.done:
		return it.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !it.taken {
		b.unqueue(it)
		b.mu.Unlock()
		return ctx.Err()
	}
	b.mu.Unlock()
	<-it.done
	return it.err
}

// commitInline commits req alone on the caller's goroutine. A commit
// that panics leaves what it commits to in a state nobody knows, and the
// Batcher busy for good; a caller may recover its panics (an HTTP server
// recovers its handlers'), which would leave every later write waiting
// instead. So, as when every commit ran on the Batcher's own goroutine,
// the panic ends the process.
func (b *Batcher[T]) commitInline(req T) {
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack() // where the commit panicked
			go panic(fmt.Sprintf("store: a commit panicked: %v\n\n%s", p, stack))
			select {} // the caller never returns
		}
	}()
	b.lone[0] = req
	b.commit(b.lone)
	clear(b.lone)
	b.release()
}

// unqueue removes it, not yet taken, from the queue. mu is held.
func (b *Batcher[T]) unqueue(it *batchItem[T]) {
	if i := slices.Index(b.queue, it); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
	}
}

// release ends a commit: the worker takes what queued during it.
func (b *Batcher[T]) release() {
	b.mu.Lock()
	b.busy = false
	queued := len(b.queue) > 0
	b.idle.Broadcast()
	b.mu.Unlock()
	if queued {
		b.signal()
	}
}

func (b *Batcher[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default: // already signalled
	}
}

// run is the worker: woken when requests queue, it commits them in
// batches for as long as more arrive, unless an inline commit runs, whose
// end wakes it again.
func (b *Batcher[T]) run() {
	defer close(b.exited)
	items := make([]*batchItem[T], 0, b.max)
	reqs := make([]T, 0, b.max)
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		for !b.busy && len(b.queue) > 0 {
			n := min(len(b.queue), b.max)
			items = append(items[:0], b.queue[:n]...)
			b.queue = slices.Delete(b.queue, 0, n) // clears what it moved from
			for _, it := range items {
				it.taken = true
			}
			b.busy = true
			b.mu.Unlock()

			reqs = reqs[:0]
			for _, it := range items {
				reqs = append(reqs, it.req)
			}
			b.commit(reqs)
			for _, it := range items {
				close(it.done)
			}
			clear(items)
			clear(reqs)

			b.mu.Lock()
			b.busy = false
			b.idle.Broadcast()
		}
		b.mu.Unlock()
	}
}

// Close stops taking requests and waits until every request already taken
// has been committed; those still queued get ErrClosed. It is safe to call
// more than once.
func (b *Batcher[T]) Close() {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		for _, it := range b.queue {
			it.err = ErrClosed
			close(it.done)
		}
		clear(b.queue)
		b.queue = nil
		for b.busy {
			b.idle.Wait()
		}
		b.mu.Unlock()
		close(b.stop)
	})
	<-b.exited
}
