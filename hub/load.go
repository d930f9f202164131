package hub

import (
	"github.com/iothub-emulator/iothub-emulator/store"
)

// loadChunk is how many records a parallel load decodes at once: enough
// to keep every core busy, few enough that the copies it holds are small.
const loadChunk = 4096

// loadBucket reads every record of a bucket, decoding them on every core
// a chunk at a time, and hands each to use in key order. Records are
// copied out of the store first, since a store may reuse them once its
// iteration moves on.
func loadBucket[T any](st store.Store, bucket string, decode func(key string, value []byte) (T, error), use func(key string, v T) error) error {
	keys := make([]string, 0, loadChunk)
	values := make([][]byte, 0, loadChunk)
	out := make([]T, loadChunk)
	errs := make([]error, loadChunk)
	flush := func() error {
		n := len(keys)
		inParallel(n, func(i int) { out[i], errs[i] = decode(keys[i], values[i]) })
		for i := range n {
			if errs[i] != nil {
				return errs[i]
			}
			if err := use(keys[i], out[i]); err != nil {
				return err
			}
			var zero T
			out[i] = zero
		}
		keys, values = keys[:0], values[:0]
		return nil
	}
	err := st.ForEach(bucket, func(key string, value []byte) error {
		keys = append(keys, key)
		values = append(values, append([]byte(nil), value...))
		if len(keys) == loadChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
