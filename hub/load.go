package hub

import (
	"errors"
	"sync/atomic"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// loadChunkSize is how many records a parallel load decodes at once: enough
// to keep every core busy, few enough that the copies it holds are small.
const loadChunkSize = 4096

// loadChunk is a run of records copied out of the store: keys[i]'s value
// is data[ends[i-1]:ends[i]]. Two chunks take turns, so that reading the
// next overlaps decoding the last.
type loadChunk struct {
	keys []string
	ends []int
	data []byte
}

func (c *loadChunk) value(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]:c.ends[i]]
}

func (c *loadChunk) reset() { c.keys, c.ends, c.data = c.keys[:0], c.ends[:0], c.data[:0] }

// errLoadStopped ends the store's iteration once decoding has failed.
var errLoadStopped = errors.New("load stopped")

// loadBucket reads every record of a bucket and hands each, decoded, to use
// in key order. One goroutine reads the store while the chunk it read last
// is decoded on every core. Records are copied out of the store first,
// since a store may reuse them once its iteration moves on.
func loadBucket[T any](st store.Store, bucket string, decode func(key string, value []byte) (T, error), use func(key string, v T) error) error {
	free := make(chan *loadChunk, 2)
	free <- &loadChunk{}
	free <- &loadChunk{}
	full := make(chan *loadChunk)
	done := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		out := make([]T, loadChunkSize)
		errs := make([]error, loadChunkSize)
		var first error
		for c := range full {
			if first == nil {
				if first = decodeChunk(c, out, errs, decode, use); first != nil {
					failed.Store(true)
				}
			}
			c.reset()
			free <- c
		}
		done <- first
	}()
	cur := <-free
	readErr := st.ForEach(bucket, func(key string, value []byte) error {
		cur.keys = append(cur.keys, key)
		cur.data = append(cur.data, value...)
		cur.ends = append(cur.ends, len(cur.data))
		if len(cur.keys) < loadChunkSize {
			return nil
		}
		full <- cur
		cur = <-free
		if failed.Load() {
			return errLoadStopped
		}
		return nil
	})
	if readErr == nil && len(cur.keys) > 0 {
		full <- cur
	}
	close(full)
	decodeErr := <-done
	if decodeErr != nil {
		return decodeErr
	}
	return readErr
}

// decodeChunk decodes a chunk on every core and hands the results to use
// in order; it returns the first error.
func decodeChunk[T any](c *loadChunk, out []T, errs []error, decode func(string, []byte) (T, error), use func(string, T) error) error {
	n := len(c.keys)
	inParallel(n, func(i int) { out[i], errs[i] = decode(c.keys[i], c.value(i)) })
	var zero T
	for i := range n {
		if errs[i] != nil {
			return errs[i]
		}
		if err := use(c.keys[i], out[i]); err != nil {
			return err
		}
		out[i], errs[i] = zero, nil
	}
	return nil
}
