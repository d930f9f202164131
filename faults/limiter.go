package faults

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Limiter applies one unit of an IoT Hub tier's operation throttles: a token
// bucket per operation class, refilled at the tier's documented rate and
// holding one second of it (at least one token). IoT Hub absorbs short
// bursts before it answers 429; the one-second bucket does that roughly.
//
// Direct methods are metered per call, as if every payload fitted in the
// hub's 4 KB meter. Classes the tier does not throttle are always allowed.
type Limiter struct {
	tier string

	mu      sync.Mutex
	buckets map[Operation]*bucket
}

type bucket struct {
	rate   float64 // tokens per second
	burst  float64 // capacity
	tokens float64
	last   time.Time // last refill; zero until first use
}

// NewLimiter returns the limiter of one unit of tier: "F1", "S1", "S2" or
// "S3" (any case).
func NewLimiter(tier string) (*Limiter, error) {
	name := strings.ToUpper(strings.TrimSpace(tier))
	rates, ok := tierRates(name)
	if !ok {
		return nil, fmt.Errorf("faults: unknown IoT Hub tier %q (F1, S1, S2 or S3)", tier)
	}
	l := &Limiter{tier: name, buckets: make(map[Operation]*bucket, len(rates))}
	for op, r := range rates {
		burst := max(1, math.Floor(r))
		l.buckets[op] = &bucket{rate: r, burst: burst, tokens: burst}
	}
	return l, nil
}

// Tier is the tier's name, upper case.
func (l *Limiter) Tier() string { return l.tier }

// Rate is the class's sustained rate (operations per second) and burst size;
// ok is false for a class the tier does not throttle.
func (l *Limiter) Rate(op Operation) (perSecond float64, burst int, ok bool) {
	b, ok := l.buckets[op] // never written after NewLimiter
	if !ok {
		return 0, 0, false
	}
	return b.rate, int(b.burst), true
}

// Allow takes one token for op at now and reports whether there was one.
// A clock that goes backwards refills nothing.
func (l *Limiter) Allow(op Operation, now time.Time) bool {
	b, ok := l.buckets[op]
	if !ok {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !b.last.IsZero() {
		if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
			b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// tierRates is one unit's throttles per class, in operations per second,
// from IoT Hub's quotas and throttling table. Free shares S1's throttles.
func tierRates(tier string) (map[Operation]float64, bool) {
	const perMinute = 1.0 / 60
	switch tier {
	case "F1", "S1":
		return map[Operation]float64{
			RegistryOperations: 100 * perMinute,
			DeviceConnections:  100, // max(100/s, 12/s/unit)
			D2CSends:           100, // max(100/s, 12/s/unit)
			Queries:            20 * perMinute,
			C2DSends:           100 * perMinute,
			DirectMethods:      40, // 160 KB/s/unit in 4 KB calls
			TwinReads:          100,
			TwinUpdates:        50,
			JobsOperations:     100 * perMinute,
			Configurations:     20 * perMinute,
			C2DReceives:        1000 * perMinute,
			FileUploads:        100 * perMinute,
		}, true
	case "S2":
		return map[Operation]float64{
			RegistryOperations: 100 * perMinute,
			DeviceConnections:  120,
			D2CSends:           120,
			Queries:            20 * perMinute,
			C2DSends:           100 * perMinute,
			DirectMethods:      120, // 480 KB/s/unit
			TwinReads:          100, // max(100/s, 10/s/unit)
			TwinUpdates:        50,  // max(50/s, 5/s/unit)
			JobsOperations:     100 * perMinute,
			Configurations:     20 * perMinute,
			C2DReceives:        1000 * perMinute,
			FileUploads:        100 * perMinute,
		}, true
	case "S3":
		return map[Operation]float64{
			RegistryOperations: 5000 * perMinute,
			DeviceConnections:  6000,
			D2CSends:           6000,
			Queries:            1000 * perMinute,
			C2DSends:           5000 * perMinute,
			DirectMethods:      6000, // 24 MB/s/unit
			TwinReads:          500,
			TwinUpdates:        250,
			JobsOperations:     5000 * perMinute,
			Configurations:     20 * perMinute,
			C2DReceives:        50000 * perMinute,
			FileUploads:        5000 * perMinute,
		}, true
	}
	return nil, false
}
