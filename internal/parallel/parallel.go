// Package parallel spreads independent work over the machine's cores.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// claimsPerWorker is how many runs of indexes each worker takes on
// average. Runs are claimed as workers come free rather than dealt out in
// advance: on a busy machine one worker may lose its core for a while,
// and an even split would leave the others waiting for its half.
const claimsPerWorker = 16

// For calls fn(0) ... fn(n-1) on as many goroutines as there are cores,
// each claiming contiguous runs of indexes until none is left, and returns
// when all have returned. fn must be safe to call concurrently for
// different indexes.
func For(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	run := max(1, n/(workers*claimsPerWorker))
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(int64(run)))
			start := end - run
			if start >= n {
				return
			}
			for i := start; i < min(end, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work() // the caller is one of the workers
	wg.Wait()
}
