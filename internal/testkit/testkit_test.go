package testkit

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	c := NewClock()
	start := c.Now()
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(start); got != 90*time.Second {
		t.Fatalf("advanced by %v", got)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(at)
	if !c.Now().Equal(at) {
		t.Fatalf("Set: %v", c.Now())
	}
}

func TestEventuallySeesALateCondition(t *testing.T) {
	var n atomic.Int32
	EventuallyWithin(t, 5*time.Second, "the third poll", func() bool { return n.Add(1) >= 3 })
	if n.Load() < 3 {
		t.Fatalf("returned after %d polls", n.Load())
	}
}

func TestEventuallyFailsWhenTheConditionNeverHolds(t *testing.T) {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		EventuallyWithin(ft, 50*time.Millisecond, "never", func() bool { return false })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("EventuallyWithin did not give up")
	}
	if !ft.failed {
		t.Fatal("a condition that never held did not fail the test")
	}
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll("testdata", 0o755)
	os.WriteFile(filepath.Join("testdata", "g.json"), []byte(`{"a":1}`), 0o644)
	Golden(t, "g.json", []byte(`{"a":1}`))
	ft := &fakeT{TB: t}
	Golden(ft, "g.json", []byte(`{"a":2}`))
	if !ft.failed {
		t.Fatal("a differing output passed its golden file")
	}
}

// fakeT records failures instead of ending the test; Fatalf ends the
// calling goroutine as testing.T's does.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}
