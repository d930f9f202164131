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

// Message logs are keyed by growing sequence numbers: bbolt fills their
// pages instead of leaving each half empty, as it does for keys that land
// anywhere (the twins). A bucket's leaf bytes in use over the bytes its
// leaf pages take tell which.
func TestMessageLogsFillTheirPages(t *testing.T) {
	s, path := openTemp(t)
	value := make([]byte, 400)
	ctx := context.Background()
	for batch := range 200 {
		var ops []Op
		for i := range 10 {
			n := batch*10 + i
			ops = append(ops,
				Op{Bucket: Telemetry, Key: fmt.Sprintf("%020d", n), Value: value},
				Op{Bucket: Twins, Key: fmt.Sprintf("%08d", (n*7919)%2000), Value: value})
		}
		// The log's own counters sort after every message.
		ops = append(ops, Op{Bucket: Telemetry, Key: "lastSequenceNumber", Value: []byte(strconv.Itoa(batch))})
		if err := s.Apply(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // writes the log back
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fill := map[string]float64{}
	db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{Telemetry, Twins} {
			st := tx.Bucket([]byte(name)).Stats()
			if st.KeyN < 2000 {
				t.Fatalf("%s holds %d keys, want 2000 or more", name, st.KeyN)
			}
			fill[name] = float64(st.LeafInuse) / float64(st.LeafAlloc)
		}
		return nil
	})
	if fill[Telemetry] < 0.9 {
		t.Errorf("the message log's leaf pages are %.0f%% full, want 90%% or more", 100*fill[Telemetry])
	}
	if fill[Twins] > 0.8 {
		t.Errorf("twins' leaf pages are %.0f%% full: keys in any order should keep room to grow", 100*fill[Twins])
	}
	t.Logf("leaf pages in use: message log %.0f%%, twins %.0f%%", 100*fill[Telemetry], 100*fill[Twins])
}
