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

// openTemp opens a bbolt file in a temporary directory and runs bbolt's
// consistency check on it when the test ends: on the open store, or, if
// the test closed it, on the file reopened.
func openTemp(t testing.TB) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := s.Check()
		s.Close()
		if errors.Is(err, ErrClosed) {
			s2, err2 := Open(path)
			if err2 != nil {
				t.Errorf("reopen for the consistency check: %v", err2)
				return
			}
			err = s2.Check()
			s2.Close()
		}
		if err != nil {
			t.Errorf("consistency check: %v", err)
		}
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
