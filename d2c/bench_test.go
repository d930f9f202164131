package d2c

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures durable appends to a real file: each Append
// returns only after its transaction has been synced. With 8 appenders the
// writer commits their messages together, so throughput should scale well
// beyond one appender's fsync-bound rate.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 8} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			s := openStore(b, tempDB(b))
			l := openLog(b, Options{Store: s})
			m := Message{
				DeviceID:         "bench-device",
				SystemProperties: SystemProperties(map[string]string{"mid": "00000000-0000-0000-0000-000000000000", "ct": "application/json", "ce": "utf-8"}),
				Properties:       map[string]string{"kind": "telemetry"},
				Body:             []byte(`{"temperature":21.5,"humidity":40.25,"pressure":1013.2,"status":"ok","seq":123456}`),
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for range appenders {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := l.Append(context.Background(), m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
