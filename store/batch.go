package store

import (
	"context"
	"sync"
)

// Batcher is group commit: it hands the requests given to Do to one commit
// function in batches, one batch at a time, in the order the requests were
// taken. A request that finds no commit running goes out at once, alone;
// the requests that arrive while a commit runs wait and go out together in
// the next one, at most size of them. So under load a commit's fixed cost
// (an fsync) is shared by the whole batch, and a lone writer never waits
// for company, as it would with a batching delay.
//
// Commits run on one goroutine, so commit may keep state between calls
// without locking (state that other goroutines read still needs its own
// lock), and batches are handed over in the order they were formed.
type Batcher[T any] struct {
	max      int
	commit   func(batch []T)
	requests chan batchItem[T]
	stop     chan struct{}
	stopped  chan struct{}
	once     sync.Once
}

type batchItem[T any] struct {
	req  T
	done chan struct{}
}

// NewBatcher starts a Batcher that calls commit with batches of at most
// size requests (size < 1 means 1). commit reports each request's outcome in the
// request itself (T is usually a pointer); Do returns after commit returned.
func NewBatcher[T any](size int, commit func(batch []T)) *Batcher[T] {
	b := &Batcher[T]{
		max:      max(size, 1),
		commit:   commit,
		requests: make(chan batchItem[T]),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
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
	it := batchItem[T]{req: req, done: make(chan struct{})}
	select {
	case b.requests <- it:
	case <-b.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-it.done
	return nil
}

func (b *Batcher[T]) run() {
	defer close(b.stopped)
	items := make([]batchItem[T], 0, b.max)
	reqs := make([]T, 0, b.max)
	for {
		var first batchItem[T]
		select {
		case first = <-b.requests:
		case <-b.stop:
			return
		}
		items = append(items[:0], first)
	drain:
		for len(items) < b.max {
			select {
			case it := <-b.requests:
				items = append(items, it)
			default:
				break drain
			}
		}
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
	}
}

// Close stops taking requests and waits until every request already taken
// has been committed. It is safe to call more than once.
func (b *Batcher[T]) Close() {
	b.once.Do(func() { close(b.stop) })
	<-b.stopped
}
