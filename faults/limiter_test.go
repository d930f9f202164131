package faults

import (
	"math"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestNewLimiterTiers(t *testing.T) {
	for _, tier := range []string{"F1", "s1", " S2 ", "S3"} {
		if _, err := NewLimiter(tier); err != nil {
			t.Errorf("NewLimiter(%q): %v", tier, err)
		}
	}
	for _, tier := range []string{"", "B1", "S4", "free"} {
		if _, err := NewLimiter(tier); err == nil {
			t.Errorf("NewLimiter(%q) accepted", tier)
		}
	}
}

func TestLimiterRates(t *testing.T) {
	tests := []struct {
		tier      string
		op        Operation
		perSecond float64
		burst     int
	}{
		{"F1", RegistryOperations, 100.0 / 60, 1},
		{"S1", DeviceConnections, 100, 100},
		{"S1", D2CSends, 100, 100},
		{"S1", Queries, 20.0 / 60, 1},
		{"S1", C2DSends, 100.0 / 60, 1},
		{"S1", DirectMethods, 40, 40},
		{"S1", TwinReads, 100, 100},
		{"S1", TwinUpdates, 50, 50},
		{"S1", JobsOperations, 100.0 / 60, 1},
		{"S1", Configurations, 20.0 / 60, 1},
		{"S2", DeviceConnections, 120, 120},
		{"S2", D2CSends, 120, 120},
		{"S2", DirectMethods, 120, 120},
		{"S2", TwinReads, 100, 100},
		{"S3", RegistryOperations, 5000.0 / 60, 83},
		{"S3", DeviceConnections, 6000, 6000},
		{"S3", Queries, 1000.0 / 60, 16},
		{"S3", TwinReads, 500, 500},
		{"S3", TwinUpdates, 250, 250},
	}
	for _, tt := range tests {
		l, err := NewLimiter(tt.tier)
		if err != nil {
			t.Fatal(err)
		}
		rate, burst, ok := l.Rate(tt.op)
		if !ok || math.Abs(rate-tt.perSecond) > 1e-9 || burst != tt.burst {
			t.Errorf("%s %s: rate %v burst %d ok %v, want %v and %d", tt.tier, tt.op, rate, burst, ok, tt.perSecond, tt.burst)
		}
	}
	l, _ := NewLimiter("S1")
	if _, _, ok := l.Rate("unknown"); ok {
		t.Error("an unknown class has a rate")
	}
}

func TestLimiterTokenBucket(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration // since t0
		n    int           // calls at that instant
		want int           // how many are allowed
	}
	tests := []struct {
		name  string
		tier  string
		op    Operation
		steps []step
	}{
		{"burst of one second, then empty", "S1", TwinUpdates, []step{{0, 60, 50}, {0, 1, 0}}},
		{"refill at the rate", "S1", TwinUpdates, []step{{0, 50, 50}, {100 * time.Millisecond, 10, 5}, {time.Second, 100, 45}}},
		{"refill never exceeds the burst", "S1", TwinUpdates, []step{{0, 1, 1}, {time.Hour, 100, 50}}},
		{"slow class: one token", "S1", Queries, []step{{0, 2, 1}, {2 * time.Second, 1, 0}, {3100 * time.Millisecond, 1, 1}}},
		{"registry per minute", "F1", RegistryOperations, []step{{0, 3, 1}, {700 * time.Millisecond, 1, 1}, {time.Second, 1, 0}}},
		{"clock going back refills nothing", "S1", Queries, []step{{time.Minute, 1, 1}, {0, 1, 0}, {time.Minute + time.Second, 1, 0}}},
		{"unthrottled class", "S1", "somethingElse", []step{{0, 1000, 1000}}},
		{"S3 is larger", "S3", TwinUpdates, []step{{0, 300, 250}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLimiter(tt.tier)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				got := 0
				for range s.n {
					if l.Allow(tt.op, t0.Add(s.at)) {
						got++
					}
				}
				if got != s.want {
					t.Fatalf("step %d (%v, %d calls): %d allowed, want %d", i, s.at, s.n, got, s.want)
				}
			}
		})
	}
}

func TestLimiterClassesAreIndependent(t *testing.T) {
	l, _ := NewLimiter("S1")
	now := time.Now()
	for range 50 {
		l.Allow(TwinUpdates, now)
	}
	if l.Allow(TwinUpdates, now) {
		t.Fatal("twin updates not exhausted")
	}
	if !l.Allow(TwinReads, now) {
		t.Fatal("twin reads throttled by twin updates")
	}
}

func TestAdmitUsesTheLimiter(t *testing.T) {
	c := newClock()
	if err := newInjector(t, c.Now, nil).Admit(Queries); err != nil {
		t.Fatalf("no limiter: %v", err)
	}
	l, _ := NewLimiter("S1")
	f := newInjector(t, c.Now, l)
	if err := f.Admit(Queries); err != nil {
		t.Fatalf("first query: %v", err)
	}
	err := f.Admit(Queries)
	if !errcode.Is(err, errcode.ThrottlingException) {
		t.Fatalf("second query in the same instant: %v, want ThrottlingException", err)
	}
	c.Advance(3 * time.Second)
	if err := f.Admit(Queries); err != nil {
		t.Fatalf("query after 3 s: %v", err)
	}
}
