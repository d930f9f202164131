// Package background runs a component's one long-lived goroutine (a job
// runner, a sweeper) and stops it when the component closes.
package background

import (
	"context"
	"sync"
)

// Worker is a goroutine started by Start.
type Worker struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start runs fn on a goroutine of its own until Stop cancels its context.
func Start(fn func(ctx context.Context)) *Worker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		fn(ctx)
	}()
	return w
}

// Stop cancels the worker's context and waits for fn to return. It may be
// called more than once, and on a nil Worker (one never started).
func (w *Worker) Stop() {
	if w == nil {
		return
	}
	w.once.Do(w.cancel)
	<-w.done
}
