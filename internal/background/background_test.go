package background

import (
	"context"
	"testing"
	"time"
)

func TestStopCancelsAndWaits(t *testing.T) {
	returned := make(chan struct{})
	w := Start(func(ctx context.Context) {
		<-ctx.Done()
		close(returned)
	})
	w.Stop()
	select {
	case <-returned:
	default:
		t.Fatal("Stop returned before the worker did")
	}
	w.Stop() // a second Stop returns at once
}

func TestStopOfNilWorker(t *testing.T) {
	var w *Worker
	w.Stop()
}

func TestWorkerThatEndsOnItsOwn(t *testing.T) {
	w := Start(func(context.Context) {})
	done := make(chan struct{})
	go func() { w.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop of a finished worker did not return")
	}
}
