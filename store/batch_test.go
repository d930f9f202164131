package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBatcherCommitsALoneRequestAtOnce(t *testing.T) {
	var got [][]int
	b := NewBatcher(8, func(batch []*int) {
		var ns []int
		for _, p := range batch {
			ns = append(ns, *p)
			*p = -*p // the outcome, reported in the request
		}
		got = append(got, ns)
	})
	defer b.Close()
	for i := 1; i <= 3; i++ {
		n := i
		start := time.Now()
		if err := b.Do(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		if n != -i {
			t.Fatalf("request %d: Do returned before its commit", i)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a lone request waited %v", d)
		}
	}
	if len(got) != 3 {
		t.Fatalf("batches = %v, want one per sequential request", got)
	}
}

// TestBatcherGroupsWhatArrivesDuringACommit holds the first commit open
// while more requests arrive: they must go out together, in arrival order,
// in batches of at most the size.
func TestBatcherGroupsWhatArrivesDuringACommit(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	b := NewBatcher(4, func(batch []int) {
		if batch[0] == 0 {
			close(started)
			<-release
		}
		mu.Lock()
		batches = append(batches, append([]int(nil), batch...))
		mu.Unlock()
	})
	defer b.Close()
	var wg sync.WaitGroup
	wg.Go(func() { b.Do(context.Background(), 0) })
	<-started
	// Queue 1..6 one after another while commit 0 is held.
	for i := 1; i <= 6; i++ {
		wg.Go(func() { b.Do(context.Background(), i) })
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for i, batch := range batches {
		if len(batch) > 4 {
			t.Errorf("batch %d has %d requests, over the size", i, len(batch))
		}
		total += len(batch)
	}
	if total != 7 || len(batches) >= 7 {
		t.Fatalf("batches = %v: want 7 requests in fewer than 7 commits", batches)
	}
	if len(batches[0]) != 1 || batches[0][0] != 0 {
		t.Fatalf("first batch = %v, want [0]", batches[0])
	}
}

func TestBatcherHonoursContextAndClose(t *testing.T) {
	committed := 0
	b := NewBatcher(4, func(batch []int) { committed += len(batch) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a canceled context = %v", err)
	}
	if err := b.Do(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close()
	if err := b.Do(context.Background(), 3); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v, want ErrClosed", err)
	}
	if committed != 1 {
		t.Fatalf("%d requests committed, want 1", committed)
	}
}
