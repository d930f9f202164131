package d2c

import (
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// wait bounds every blocking step in these tests.
const wait = 5 * time.Second

// openStore opens a real bbolt file and checks its consistency at the end.
func openStore(t testing.TB, path string) *store.File {
	t.Helper()
	return storetest.Open(t, path)
}

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "hub.db") }

// openLog opens a log that is closed at the end of the test, on an
// in-memory store unless opts has one.
func openLog(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Store == nil {
		opts.Store = store.OpenMemory()
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, m Message) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	got, err := l.Append(ctx, m)
	if err != nil {
		t.Fatalf("Append(%s): %v", m.DeviceID, err)
	}
	return got
}

func msg(device, module, body string) Message {
	return Message{DeviceID: device, ModuleID: module, Body: []byte(body)}
}

func seqs(msgs []Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.SequenceNumber)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// storedSeqs lists the message keys in the store's telemetry bucket, and
// whether the sequence record is there.
func storedSeqs(t testing.TB, s *store.File) (out []int64, hasMeta bool) {
	t.Helper()
	out = []int64{}
	err := s.ForEach(store.Telemetry, func(k string, _ []byte) error {
		if k == metaKey {
			hasMeta = true
			return nil
		}
		if k == partitionsKey {
			return nil
		}
		seq, ok := parseSeqKey(k)
		if !ok {
			t.Errorf("stray key %q", k)
		}
		out = append(out, seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(out) {
		t.Errorf("store keys out of order: %v", out)
	}
	return out, hasMeta
}

// newClock is the manual clock these tests move.
func newClock() *testkit.Clock { return testkit.NewClock() }
