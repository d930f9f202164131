package hub

import (
	"fmt"
	"sync"
	"testing"
)

// The per-device locks are held only while in use: devices that come and
// go (deleted, or never created) leave no entry behind.
func TestKeyLockKeepsNothingOnceReleased(t *testing.T) {
	k := newKeyLock()
	var wg sync.WaitGroup
	for i := range 200 {
		key := fmt.Sprintf("d%d", i%20) // contended keys, and many of them
		wg.Go(func() {
			unlock := k.Lock(key)
			defer unlock()
		})
	}
	wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	if n := len(k.locks); n != 0 {
		t.Fatalf("%d lock entries left, want 0", n)
	}
}
