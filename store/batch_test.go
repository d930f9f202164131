package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// A request that finds the Batcher idle is committed on its caller's
// goroutine: handing it to another would cost a wake-up, which on a quiet
// machine can take longer than the commit.
func TestBatcherCommitsALoneRequestOnItsCallersGoroutine(t *testing.T) {
	var stacks []string
	b := NewBatcher(8, func(batch []int) {
		buf := make([]byte, 1<<16)
		stacks = append(stacks, string(buf[:runtime.Stack(buf, false)]))
	})
	defer b.Close()
	for i := range 3 {
		if err := b.Do(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if len(stacks) != 3 {
		t.Fatalf("%d commits, want 3", len(stacks))
	}
	for i, s := range stacks {
		if !strings.Contains(s, "TestBatcherCommitsALoneRequestOnItsCallersGoroutine") {
			t.Errorf("commit %d ran on another goroutine:\n%s", i, s)
		}
	}
}

// heldBatcher returns a Batcher whose commit of request 0 waits until
// release is closed, the requests it committed, and a channel closed once
// that commit has started.
func heldBatcher(t *testing.T, size int) (b *Batcher[int], started, release chan struct{}, committed func() []int) {
	t.Helper()
	started, release = make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var got []int
	b = NewBatcher(size, func(batch []int) {
		if batch[0] == 0 {
			close(started)
			<-release
		}
		mu.Lock()
		got = append(got, batch...)
		mu.Unlock()
	})
	return b, started, release, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// waitQueued waits until n requests are queued, for at most a few seconds.
func waitQueued(t *testing.T, b *Batcher[int], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcherDropsARequestCanceledWhileQueued(t *testing.T) {
	b, started, release, committed := heldBatcher(t, 8)
	defer b.Close()
	first := make(chan error, 1)
	go func() { first <- b.Do(context.Background(), 0) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan error, 1)
	go func() { canceled <- b.Do(ctx, 1) }()
	waitQueued(t, b, 1)
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do canceled while queued = %v, want context.Canceled", err)
	}
	waitQueued(t, b, 0)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if got := committed(); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("committed %v, want [0 2]: a canceled request is never committed", got)
	}
}

func TestBatcherCloseWaitsForTheRunningCommitAndRefusesTheQueued(t *testing.T) {
	b, started, release, committed := heldBatcher(t, 8)
	first := make(chan error, 1)
	go func() { first <- b.Do(context.Background(), 0) }()
	<-started
	queued := make(chan error, 1)
	go func() { queued <- b.Do(context.Background(), 1) }()
	waitQueued(t, b, 1)
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	if err := <-queued; !errors.Is(err, ErrClosed) {
		t.Fatalf("Do queued at Close = %v, want ErrClosed", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a commit was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if err := <-first; err != nil {
		t.Fatalf("the running commit's Do = %v", err)
	}
	if got := committed(); !slices.Equal(got, []int{0}) {
		t.Fatalf("committed %v, want [0]", got)
	}
}

// TestBatcherCommitsNeverOverlap runs many writers at once: commits, inline
// or on the worker, must run one at a time, each request exactly once, and
// Do must return only after its request's commit.
func TestBatcherCommitsNeverOverlap(t *testing.T) {
	const writers, each = 16, 200
	var running atomic.Int32
	var overlaps atomic.Int32
	done := make([]atomic.Bool, writers*each)
	seen := make([]int, writers*each) // only commits touch it: they never overlap
	b := NewBatcher(8, func(batch []int) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		runtime.Gosched() // a window in which an overlapping commit would start
		for _, r := range batch {
			seen[r]++
			done[r].Store(true)
		}
		running.Add(-1)
	})
	defer b.Close()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := w*each + i
				if err := b.Do(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
				if !done[r].Load() {
					t.Errorf("Do(%d) returned before its commit", r)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n > 0 {
		t.Fatalf("%d commits overlapped another", n)
	}
	for r, n := range seen {
		if n != 1 {
			t.Fatalf("request %d committed %d times", r, n)
		}
	}
}

// A commit that panics on its caller's goroutine ends the process, even
// when the caller recovers its panics (as an HTTP server does): recovered,
// it would leave the Batcher busy and every later write waiting. The test
// runs itself as a child that does exactly that.
func TestBatcherPanicInACommitEndsTheProcess(t *testing.T) {
	if os.Getenv("BATCHER_PANIC_CHILD") == "1" {
		b := NewBatcher(4, func(batch []int) { panic("disk on fire") })
		func() {
			defer func() { recover() }()
			b.Do(context.Background(), 1)
		}()
		fmt.Println("the caller recovered and went on")
		os.Exit(0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBatcherPanicInACommitEndsTheProcess$")
	cmd.Env = append(os.Environ(), "BATCHER_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the child exited with %v (context %v); want a crash:\n%s", err, ctx.Err(), out)
	}
	for _, want := range []string{"store: a commit panicked: disk on fire", "TestBatcherPanicInACommitEndsTheProcess.func1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the crash does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "the caller recovered") {
		t.Errorf("the caller went on after the panic:\n%s", out)
	}
}
