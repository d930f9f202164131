package d2c

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRingMatchesASlice drives the ring and a plain slice with the same
// pushes and pops, across growth and wrap-around.
func TestRingMatchesASlice(t *testing.T) {
	for _, limit := range []int{1, 2, 5, 16, 17, 100} {
		r := newRing(limit)
		var ref []int64
		rng := rand.New(rand.NewPCG(1, uint64(limit)))
		next := int64(1)
		for step := range 2000 {
			if r.full() || (len(ref) > 0 && rng.IntN(3) == 0) {
				if len(ref) == 0 {
					t.Fatalf("limit %d: full with nothing in it", limit)
				}
				if got := r.popFront().SequenceNumber; got != ref[0] {
					t.Fatalf("limit %d step %d: popped %d, want %d", limit, step, got, ref[0])
				}
				ref = ref[1:]
			} else {
				r.push(Message{SequenceNumber: next})
				ref = append(ref, next)
				next++
			}
			if r.len() != len(ref) || r.len() > limit || len(r.buf) > limit {
				t.Fatalf("limit %d step %d: len %d (buf %d), want %d", limit, step, r.len(), len(r.buf), len(ref))
			}
			var got []int64
			for i := range r.len() {
				got = append(got, r.at(i).SequenceNumber)
			}
			if !slices.Equal(got, ref) && len(ref) > 0 {
				t.Fatalf("limit %d step %d: ring %v, want %v", limit, step, got, ref)
			}
			for _, x := range []int64{0, next / 2, next} {
				want, _ := slices.BinarySearch(ref, x)
				if got := r.search(func(m *Message) bool { return m.SequenceNumber >= x }); got != want {
					t.Fatalf("limit %d step %d: search(%d) = %d, want %d", limit, step, x, got, want)
				}
			}
		}
	}
}
