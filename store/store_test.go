package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s, path
}

func TestApplyIsDurableAcrossReopen(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	if err := s.Apply(ctx, Op{Devices, "d1", []byte(`{"deviceId":"d1"}`)}, Op{Twins, "d1", []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, Op{Devices, "d2", []byte(`{"deviceId":"d2"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, Op{Devices, "d2", nil}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, Op{Devices, "d3", []byte(`{}`)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}

	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var keys []string
	if err := s2.ForEach(Devices, func(k string, v []byte) error { keys = append(keys, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != `[d1={"deviceId":"d1"}]` {
		t.Fatalf("after reopen devices = %v", keys)
	}
	if v, err := s2.Get(Twins, "d1"); err != nil || string(v) != "{}" {
		t.Fatalf("twin d1 = %q, %v", v, err)
	}
}

func TestConcurrentWritersAllCommit(t *testing.T) {
	s, _ := openTemp(t)
	const writers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%02d-%03d", w, i)
				errs <- s.Apply(context.Background(), Op{Devices, k, []byte(`"` + k + `"`)})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := s.ForEach(Devices, func(k string, v []byte) error {
		if string(v) != `"`+k+`"` {
			return fmt.Errorf("key %s has value %s", k, v)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("%d records, want %d", n, writers*each)
	}
}

func TestBadOpsAreRefused(t *testing.T) {
	s, _ := openTemp(t)
	for _, op := range []Op{{"nope", "k", []byte("v")}, {Devices, "", []byte("v")}} {
		if err := s.Apply(context.Background(), Op{Devices, "ok", []byte("1")}, op); err == nil {
			t.Fatalf("Apply accepted %+v", op)
		}
	}
	if v, _ := s.Get(Devices, "ok"); v != nil {
		t.Fatal("a refused batch wrote part of itself")
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	_, path := openTemp(t)
	if _, err := Open(path); err == nil {
		t.Fatal("a second Open of a held database succeeded")
	}
}

// BenchmarkGroupCommit compares writers through Apply (group commit) with
// the baseline of one bbolt transaction per write, for 1 and 8 concurrent
// writers. With one writer the two should cost the same (one fsync per
// write); with 8, Apply shares each fsync among the writes that queued
// during the previous one.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("Apply/writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			parallelWrites(b, writers, func(k string) error {
				return s.Apply(context.Background(), Op{Devices, k, []byte("{}")})
			})
		})
		b.Run(fmt.Sprintf("BaselineTxPerWrite/writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			parallelWrites(b, writers, func(k string) error {
				return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Devices)).Put([]byte(k), []byte("{}")) })
			})
		})
	}
}

// parallelWrites runs b.N writes of distinct keys from exactly writers goroutines.
func parallelWrites(b *testing.B, writers int, write func(key string) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := write(strconv.FormatInt(i, 10)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
