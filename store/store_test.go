package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// implementations are the stores the contract runs against.
var implementations = []struct {
	name string
	open func(t testing.TB) Store
}{
	{"file", func(t testing.TB) Store { s, _ := openTemp(t); return s }},
	{"memory", func(t testing.TB) Store {
		s := OpenMemory()
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// TestContract runs every case of the store contract against each
// implementation, so the file and the in-memory store cannot drift apart.
func TestContract(t *testing.T) {
	for _, impl := range implementations {
		for _, c := range contract {
			t.Run(impl.name+"/"+c.name, func(t *testing.T) { c.test(t, impl.open(t)) })
		}
	}
}

var ctx = context.Background()

var contract = []struct {
	name string
	test func(t *testing.T, s Store)
}{
	{"ApplyThenRead", func(t *testing.T, s Store) {
		mustApply(t, s, Op{Devices, "d1", []byte(`{"deviceId":"d1"}`)}, Op{Twins, "d1", []byte(`{}`)})
		mustApply(t, s, Op{Devices, "d2", []byte(`{"deviceId":"d2"}`)})
		mustApply(t, s, Op{Devices, "d2", []byte(`{"deviceId":"d2","v":2}`)}) // replaces
		wantRecords(t, s, Devices, `d1={"deviceId":"d1"} d2={"deviceId":"d2","v":2}`)
		wantRecords(t, s, Twins, `d1={}`)
		wantRecords(t, s, Modules, ``)
		if v, err := s.Get(Twins, "d1"); err != nil || string(v) != "{}" {
			t.Fatalf("Get twin d1 = %q, %v", v, err)
		}
		if v, err := s.Get(Twins, "d2"); err != nil || v != nil {
			t.Fatalf("Get of a missing record = %q, %v; want nil, nil", v, err)
		}
		mustApply(t, s) // an empty batch is fine
	}},
	{"Delete", func(t *testing.T, s Store) {
		mustApply(t, s, Op{C2D, "a", []byte("1")}, Op{C2D, "b", []byte("2")})
		mustApply(t, s, Op{C2D, "a", nil}, Op{C2D, "never-written", nil})
		wantRecords(t, s, C2D, `b=2`)
		if v, err := s.Get(C2D, "a"); err != nil || v != nil {
			t.Fatalf("Get of a deleted record = %q, %v", v, err)
		}
		// Put then delete in one batch: the last op wins.
		mustApply(t, s, Op{C2D, "c", []byte("3")}, Op{C2D, "c", nil})
		wantRecords(t, s, C2D, `b=2`)
	}},
	{"EmptyValueIsARecord", func(t *testing.T, s Store) {
		mustApply(t, s, Op{Feedback, "k", []byte{}})
		v, err := s.Get(Feedback, "k")
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("Get of an empty record = %#v, %v; want an empty, non-nil value", v, err)
		}
		wantRecords(t, s, Feedback, `k=`)
	}},
	{"ValuesAreCopied", func(t *testing.T, s Store) {
		buf := []byte("original")
		mustApply(t, s, Op{Devices, "k", buf})
		copy(buf, "CHANGED!") // the caller reuses its buffer
		v, _ := s.Get(Devices, "k")
		copy(v, "changed!") // and scribbles on what Get returned
		if v, _ := s.Get(Devices, "k"); string(v) != "original" {
			t.Fatalf("stored value = %q", v)
		}
	}},
	{"FailingBatchWritesNothing", func(t *testing.T, s Store) {
		mustApply(t, s, Op{Devices, "keep", []byte("1")})
		for _, bad := range []Op{
			{"nope", "k", []byte("v")},
			{Devices, "", []byte("v")},
			{Devices, strings.Repeat("k", 32769), []byte("v")},
		} {
			err := s.Apply(ctx, Op{Devices, "new", []byte("1")}, Op{Devices, "keep", nil}, bad)
			if err == nil {
				t.Fatalf("Apply accepted %.40v", bad)
			}
		}
		wantRecords(t, s, Devices, `keep=1`)
	}},
	{"ForEachInByteOrder", func(t *testing.T, s Store) {
		// Keys that sort differently bytewise than by any other rule:
		// case, prefixes, multi-byte UTF-8, and binary big-endian numbers
		// like the telemetry log's.
		keys := []string{"b", "B", "a/b", "a", "a0", "é", "z", "\x00\x01", "\xff", "\x00\x00\x00\x00\x00\x00\x01\x00", "\x00\x00\x00\x00\x00\x00\x00\xff", "Z", "_"}
		for i, k := range keys { // one Apply each, in this scrambled order
			mustApply(t, s, Op{Telemetry, k, []byte(fmt.Sprint(i))})
		}
		mustApply(t, s, Op{Telemetry, "_", nil})
		want := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "_" })
		slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
		var got []string
		if err := s.ForEach(Telemetry, func(k string, _ []byte) error { got = append(got, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ForEach order = %q\nwant %q", got, want)
		}
	}},
	{"ForEachStopsOnError", func(t *testing.T, s Store) {
		mustApply(t, s, Op{Modules, "1", []byte("x")}, Op{Modules, "2", []byte("x")}, Op{Modules, "3", []byte("x")})
		stop := errors.New("stop")
		n := 0
		err := s.ForEach(Modules, func(string, []byte) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 2 {
			t.Fatalf("ForEach = %v after %d records, want the callback's error after 2", err, n)
		}
	}},
	{"UnknownBucket", func(t *testing.T, s Store) {
		if err := s.Apply(ctx, Op{"nope", "k", []byte("v")}); !errors.Is(err, ErrUnknownBucket) {
			t.Errorf("Apply = %v, want ErrUnknownBucket", err)
		}
		if err := s.ForEach("nope", func(string, []byte) error { return nil }); !errors.Is(err, ErrUnknownBucket) {
			t.Errorf("ForEach = %v, want ErrUnknownBucket", err)
		}
		if _, err := s.Get("nope", "k"); !errors.Is(err, ErrUnknownBucket) {
			t.Errorf("Get = %v, want ErrUnknownBucket", err)
		}
		if err := s.Apply(ctx, Op{Devices, "", []byte("v")}); !errors.Is(err, ErrBadKey) {
			t.Errorf("Apply with an empty key = %v, want ErrBadKey", err)
		}
	}},
	{"CanceledContextWritesNothing", func(t *testing.T, s Store) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Apply(c, Op{Devices, "k", []byte("v")}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply with a canceled context = %v", err)
		}
		wantRecords(t, s, Devices, ``)
	}},
	{"Closed", func(t *testing.T, s Store) {
		mustApply(t, s, Op{Devices, "k", []byte("v")})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := s.Apply(ctx, Op{Devices, "k2", []byte("v")}); !errors.Is(err, ErrClosed) {
			t.Errorf("Apply after Close = %v, want ErrClosed", err)
		}
		if err := s.ForEach(Devices, func(string, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("ForEach after Close = %v, want ErrClosed", err)
		}
		if _, err := s.Get(Devices, "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close = %v, want ErrClosed", err)
		}
	}},
	{"ConcurrentWritersAllCommit", func(t *testing.T, s Store) {
		const writers, each = 16, 50
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					k := fmt.Sprintf("w%02d-%03d", w, i)
					// Two buckets per Apply, as the hub writes an identity and its twin.
					errs <- s.Apply(ctx, Op{Devices, k, []byte(`"` + k + `"`)}, Op{Twins, k, []byte(`{}`)})
				}
			})
		}
		// A reader meanwhile must only ever see whole records.
		wg.Go(func() {
			for range 20 {
				if err := s.ForEach(Devices, func(k string, v []byte) error {
					if string(v) != `"`+k+`"` {
						return fmt.Errorf("key %s has value %s", k, v)
					}
					return nil
				}); err != nil {
					errs <- err
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range []string{Devices, Twins} {
			n := 0
			if err := s.ForEach(b, func(string, []byte) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != writers*each {
				t.Fatalf("%s: %d records, want %d", b, n, writers*each)
			}
		}
	}},
}

func mustApply(t *testing.T, s Store, ops ...Op) {
	t.Helper()
	if err := s.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
}

// wantRecords checks a bucket's records, written "k=v k=v" in key order.
func wantRecords(t *testing.T, s Store, bucket, want string) {
	t.Helper()
	var got []string
	if err := s.ForEach(bucket, func(k string, v []byte) error { got = append(got, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("%s holds %q, want %q", bucket, strings.Join(got, " "), want)
	}
}
