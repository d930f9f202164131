package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestTextExposition(t *testing.T) {
	r := New()
	ops := r.CounterVec("iothub_twin_operations_total", "Twin operations.", "operation")
	r.Counter("iothub_d2c_messages_total", "Telemetry messages received.")
	r.GaugeFunc("iothub_connections", "Connected clients.", func() float64 { return 3 })
	h := r.Histogram("iothub_query_duration_seconds", "Query latency.", []float64{0.001, 0.01, 0.1})
	ops.Inc("read")
	ops.Add("update", 2)
	h.Observe(0.0005)
	h.Observe(0.05)
	h.Observe(5)
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP iothub_connections Connected clients.
# TYPE iothub_connections gauge
iothub_connections 3
# HELP iothub_d2c_messages_total Telemetry messages received.
# TYPE iothub_d2c_messages_total counter
iothub_d2c_messages_total 0
# HELP iothub_query_duration_seconds Query latency.
# TYPE iothub_query_duration_seconds histogram
iothub_query_duration_seconds_bucket{le="0.001"} 1
iothub_query_duration_seconds_bucket{le="0.01"} 1
iothub_query_duration_seconds_bucket{le="0.1"} 2
iothub_query_duration_seconds_bucket{le="+Inf"} 3
iothub_query_duration_seconds_sum 5.0505
iothub_query_duration_seconds_count 3
# HELP iothub_twin_operations_total Twin operations.
# TYPE iothub_twin_operations_total counter
iothub_twin_operations_total{operation="read"} 1
iothub_twin_operations_total{operation="update"} 2
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestConcurrentCounting(t *testing.T) {
	r := New()
	c := r.CounterVec("c_total", "c", "k")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Inc([]string{"a", "b"}[i%2])
			}
		}()
	}
	wg.Wait()
	if c.Value("a") != 4000 || c.Value("b") != 4000 {
		t.Fatalf("a=%d b=%d", c.Value("a"), c.Value("b"))
	}
	var nilCounter *CounterVec
	nilCounter.Inc("x") // a nil metric is a no-op, so optional wiring needs no checks
}
