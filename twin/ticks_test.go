package twin

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendTimeFormatsAsTheTimePackage(t *testing.T) {
	dates := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC),
		time.Date(1, 2, 28, 23, 59, 59, 999_999_900, time.UTC),
		time.Date(1, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(4, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(100, 2, 28, 0, 0, 0, 0, time.UTC),
		time.Date(100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(400, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 1, 2, 3, 400_500_600, time.UTC),
		time.Date(2026, 12, 3, 9, 30, 0, 1_234_500, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_900, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // five digits: the time package's
	}
	for _, d := range dates {
		checkAppendTime(t, toTicks(d))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		checkAppendTime(t, ticks(r.Int64N(maxFormattedTicks)))
	}
}

func checkAppendTime(t *testing.T, tk ticks) {
	t.Helper()
	want := tk.time().Format(TimeFormat)
	if got := string(tk.appendTime([]byte("x"))); got != "x"+want {
		t.Fatalf("ticks %d: %q, want %q", tk, got[1:], want)
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(maxFormattedTicks - 1))
	f.Add(int64(-1))
	f.Fuzz(func(t *testing.T, v int64) { checkAppendTime(t, ticks(v)) })
}

func BenchmarkAppendTime(b *testing.B) {
	tk := toTicks(time.Date(2026, 12, 3, 9, 30, 0, 1_234_500, time.UTC))
	buf := make([]byte, 0, 64)
	b.Run("ticks", func(b *testing.B) {
		for b.Loop() {
			buf = tk.appendTime(buf[:0])
		}
	})
	b.Run("time.AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = tk.time().AppendFormat(buf[:0], TimeFormat)
		}
	})
}
