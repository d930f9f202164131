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

// checkParseTime: whatever parseTime reads, the time package reads as the
// same instant.
func checkParseTime(t *testing.T, s string) {
	t.Helper()
	got, ok := parseTime([]byte(s))
	if !ok {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parseTime read %q, which the time package refuses: %v", s, err)
	}
	if want := toTicks(at); got != want {
		t.Fatalf("parseTime read %q as %d, the time package as %d", s, got, want)
	}
}

func TestParseTimeReadsWhatAppendTimeWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100_000 {
		tk := ticks(r.Int64N(maxFormattedTicks))
		if i == 0 {
			tk = 0
		}
		b := tk.appendTime(nil)
		got, ok := parseTime(b)
		if !ok || got != tk {
			t.Fatalf("parseTime(%q) = %d, %v; want %d", b, got, ok, tk)
		}
		checkParseTime(t, string(b))
	}
	for _, s := range []string{
		"2026-02-29T00:00:00.0000000Z", "2024-02-29T00:00:00.0000000Z", "1900-02-29T00:00:00.0000000Z",
		"2000-02-29T00:00:00.0000000Z", "2026-04-31T00:00:00.0000000Z", "2026-12-31T24:00:00.0000000Z",
		"2026-12-31T23:60:00.0000000Z", "2026-12-31T23:59:60.0000000Z", "0000-01-01T00:00:00.0000000Z",
		"2026-13-01T00:00:00.0000000Z", "2026-00-01T00:00:00.0000000Z", "2026-01-00T00:00:00.0000000Z",
		"2026-01-01t00:00:00.0000000z", "2026-01-01T00:00:00.000000+Z", "2026-01-01T00:00:00.00000000",
		"2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123Z", "2026-01-01T00:00:00.0000000+01:00",
	} {
		checkParseTime(t, s)
	}
	for _, s := range []string{"2026-02-29T00:00:00.0000000Z", "2026-04-31T00:00:00.0000000Z", "2026-12-31T23:59:60.0000000Z", "0000-01-01T00:00:00.0000000Z"} {
		if _, ok := parseTime([]byte(s)); ok {
			t.Errorf("parseTime took %q", s)
		}
	}
}

// FuzzParseTime checks parseTime on stored timestamps with one byte
// changed: near misses of the layout (a day past the month's end, an
// hour of 24, a letter for a digit).
func FuzzParseTime(f *testing.F) {
	f.Add(int64(0), uint8(9), byte('9'))
	f.Add(int64(639_318_970_525_139_536), uint8(6), byte('2'))
	f.Add(int64(maxFormattedTicks-1), uint8(12), byte('4'))
	f.Fuzz(func(t *testing.T, v int64, pos uint8, c byte) {
		tk := ticks(v % maxFormattedTicks)
		if tk < 0 {
			tk = -tk
		}
		b := tk.appendTime(nil)
		b[int(pos)%len(b)] = c
		checkParseTime(t, string(b))
	})
}
