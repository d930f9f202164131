package d2c

import (
	"context"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRetentionByCount(t *testing.T) {
	s := openStore(t, tempDB(t))
	l := openLog(t, Options{Store: s, MaxMessages: 5})
	for i := range 12 {
		mustAppend(t, l, msg("d", "", fmt.Sprint(i)))
		got, _ := l.Read(Filter{}, 100)
		wantFirst := max(1, int64(i)+1-4)
		if !slices.Equal(seqs(got), seqRange(wantFirst, int64(i)+1)) {
			t.Fatalf("after %d appends the log holds %v", i+1, seqs(got))
		}
		if keys, meta := storedSeqs(t, s); !slices.Equal(keys, seqs(got)) || !meta {
			t.Fatalf("after %d appends the store holds %v (sequence record %v), memory %v", i+1, keys, meta, seqs(got))
		}
	}
	// A reader behind the retained window simply starts at the oldest held.
	got, next := l.Read(Filter{FromSequence: 2}, 2)
	if !slices.Equal(seqs(got), []int64{8, 9}) || next != 10 {
		t.Fatalf("Read from a dropped number = %v next %d", seqs(got), next)
	}
}

// TestRetentionByCountUnderConcurrency drives batches larger than the log
// itself: the store and memory must still end with exactly MaxMessages.
func TestRetentionByCountUnderConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			s := openStore(t, tempDB(t))
			l := openLog(t, Options{Store: s, MaxMessages: limit})
			var wg sync.WaitGroup
			for a := range 16 {
				wg.Go(func() {
					for i := range 20 {
						if _, err := l.Append(context.Background(), msg(fmt.Sprint(a), "", fmt.Sprint(i))); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			got, _ := l.Read(Filter{}, 100)
			if !slices.Equal(seqs(got), seqRange(320-int64(limit)+1, 320)) {
				t.Fatalf("log holds %v", seqs(got))
			}
			if keys, _ := storedSeqs(t, s); !slices.Equal(keys, seqs(got)) {
				t.Fatalf("store holds %v", keys)
			}
		})
	}
}

func TestRetentionByAgeOnAppend(t *testing.T) {
	c := newClock()
	s := openStore(t, tempDB(t))
	// A long MaxAge keeps the sweeper out of this test.
	l := openLog(t, Options{Store: s, MaxAge: time.Hour, Now: c.Now})
	mustAppend(t, l, msg("d", "", "1"))
	c.Advance(30 * time.Minute)
	mustAppend(t, l, msg("d", "", "2"))
	c.Advance(30 * time.Minute) // #1 is exactly MaxAge old: kept
	if got, _ := l.Read(Filter{}, 10); !slices.Equal(seqs(got), []int64{1, 2}) {
		t.Fatalf("at exactly MaxAge the log shows %v", seqs(got))
	}
	c.Advance(time.Millisecond)
	// Older than MaxAge: hidden at once, even before anything deletes it.
	if got, _ := l.Read(Filter{}, 10); !slices.Equal(seqs(got), []int64{2}) {
		t.Fatalf("past MaxAge the log shows %v", seqs(got))
	}
	mustAppend(t, l, msg("d", "", "3"))
	if keys, _ := storedSeqs(t, s); !slices.Equal(keys, []int64{2, 3}) {
		t.Fatalf("after an append past MaxAge the store holds %v", keys)
	}
	if got, next := l.Read(Filter{}, 10); !slices.Equal(seqs(got), []int64{2, 3}) || next != 4 {
		t.Fatalf("log holds %v next %d", seqs(got), next)
	}
}

func TestRetentionByAgeSweeper(t *testing.T) {
	c := newClock()
	s := openStore(t, tempDB(t))
	l := openLog(t, Options{Store: s, MaxAge: 100 * time.Millisecond, Now: c.Now}) // sweeps every 10 ms
	for i := range 3 {
		mustAppend(t, l, msg("d", "", fmt.Sprint(i)))
	}
	c.Advance(50 * time.Millisecond)
	mustAppend(t, l, msg("d", "", "young"))
	c.Advance(60 * time.Millisecond) // the first three are now too old, the fourth is not
	// The sweep deletes from the store, then from memory: wait for both.
	testkit.EventuallyWithin(t, wait, "the sweeper to delete old messages", func() bool {
		keys, _ := storedSeqs(t, s)
		l.mu.Lock()
		held := l.msgs.len()
		l.mu.Unlock()
		return slices.Equal(keys, []int64{4}) && held == 1
	})
	if next := l.NextSequenceNumber(); next != 5 {
		t.Fatalf("NextSequenceNumber %d after the sweep", next)
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct{ maxAge, want time.Duration }{
		{time.Millisecond, 10 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{DefaultMaxAge, time.Minute},
	}
	for _, tt := range tests {
		if got := sweepInterval(tt.maxAge); got != tt.want {
			t.Errorf("sweepInterval(%v) = %v, want %v", tt.maxAge, got, tt.want)
		}
	}
}
