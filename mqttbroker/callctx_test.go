package mqttbroker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCallDeadlines(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	d := callDeadlines{parent: parent}
	a, b := d.context(), d.context()
	if a != b {
		t.Error("two calls of one epoch got contexts of their own")
	}
	dl, ok := a.Deadline()
	if left := time.Until(dl); !ok || left < hubTimeout || left > hubTimeout+callEpoch {
		t.Fatalf("a call's context ends in %v (set %v), want %v to %v", left, ok, hubTimeout, hubTimeout+callEpoch)
	}
	// Once the epoch's handing out is over, a call gets a new context
	// with its own full bound.
	d.cur.Load().until = time.Now().Add(-time.Millisecond)
	c := d.context()
	if c == a {
		t.Fatal("a call after the epoch got the epoch's context")
	}
	if dl2, _ := c.Deadline(); !dl2.After(dl) {
		t.Errorf("the next epoch's context ends at %v, not after %v", dl2, dl)
	}
	cancel()
	for _, ctx := range []context.Context{a, c} {
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Errorf("ended with %v, want Canceled", ctx.Err())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call's context outlived the broker's")
		}
	}
}

func BenchmarkHubContext(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := callDeadlines{parent: parent}
	b.Run("shared", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = d.context()
			}
		})
	})
	b.Run("WithTimeout", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, c := context.WithTimeout(parent, hubTimeout)
				c()
			}
		})
	})
}
