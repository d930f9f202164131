// Package parallel spreads independent work over the machine's cores.
package parallel

import (
	"runtime"
	"sync"
)

// For calls fn(0) ... fn(n-1) on as many goroutines as there are cores,
// each taking a contiguous run of indexes, and returns when all have
// returned. fn must be safe to call concurrently for different indexes.
func For(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		wg.Go(func() {
			for i := start; i < end; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}
