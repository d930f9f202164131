package twin_test

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

// TestWritesThatReturnTheNewTwin checks Patched, Replaced and
// PatchedReported: the twin they start from is never touched, the one they
// return is what the in-place write leaves and shares nothing with the
// original, and a refused write returns no twin.
func TestWritesThatReturnTheNewTwin(t *testing.T) {
	const start = `{"tags":{"site":{"hall":"b"}},"properties":{"desired":{"cfg":{"rate":5}}}}`
	const service = `{"tags":{"site":{"row":1}},"properties":{"desired":{"cfg":{"on":true}}}}`
	// A key with '$' passes no parser; built by hand, it reaches the write.
	refused := twin.ServiceUpdate{HasTags: true, Tags: map[string]any{"a$b": 1.0}}
	tests := []struct {
		name    string
		write   func(t *testing.T, tw *twin.Twin, body string) (*twin.Twin, error)
		inPlace func(t *testing.T, tw *twin.Twin, body string)
		refuse  func(tw *twin.Twin) (*twin.Twin, error)
		good    string
	}{
		{"Patched",
			func(t *testing.T, tw *twin.Twin, body string) (*twin.Twin, error) {
				next, _, err := tw.Patched(parse(t, body), at(2))
				return next, err
			},
			func(t *testing.T, tw *twin.Twin, body string) { patch(t, tw, body, at(2)) },
			func(tw *twin.Twin) (*twin.Twin, error) {
				next, _, err := tw.Patched(refused, at(2))
				return next, err
			},
			service},
		{"Replaced",
			func(t *testing.T, tw *twin.Twin, body string) (*twin.Twin, error) {
				next, _, err := tw.Replaced(parse(t, body), at(2))
				return next, err
			},
			func(t *testing.T, tw *twin.Twin, body string) { replace(t, tw, body, at(2)) },
			func(tw *twin.Twin) (*twin.Twin, error) {
				next, _, err := tw.Replaced(refused, at(2))
				return next, err
			},
			service},
		{"PatchedReported",
			func(_ *testing.T, tw *twin.Twin, body string) (*twin.Twin, error) {
				return tw.PatchedReported([]byte(body), at(2))
			},
			func(t *testing.T, tw *twin.Twin, body string) { report(t, tw, body, at(2)) },
			func(tw *twin.Twin) (*twin.Twin, error) { return tw.PatchedReported([]byte(`[1]`), at(2)) },
			`{"fw":{"v":"1.0"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := twin.New(at(0))
			patch(t, tw, start, at(1))
			report(t, tw, `{"fw":{"v":"0.9"}}`, at(1))
			before := snapshot(t, tw)

			next, err := tc.write(t, tw, tc.good)
			if err != nil {
				t.Fatal(err)
			}
			if got := snapshot(t, tw); got != before {
				t.Fatalf("the original twin changed:\n got %s\nwant %s", got, before)
			}
			want := tw.Clone()
			tc.inPlace(t, want, tc.good)
			if got, w := snapshot(t, next), snapshot(t, want); got != w {
				t.Fatalf("returned twin:\n got %s\nwant what the in-place write leaves %s", got, w)
			}
			// Writing deep into the new twin leaves the original alone.
			patch(t, next, `{"tags":{"site":{"hall":"c"}},"properties":{"desired":{"cfg":{"rate":9}}}}`, at(3))
			report(t, next, `{"fw":{"v":"2.0"}}`, at(3))
			if got := snapshot(t, tw); got != before {
				t.Fatalf("the original twin shares state with the returned one:\n got %s\nwant %s", got, before)
			}

			next, err = tc.refuse(tw)
			if err == nil || next != nil {
				t.Fatalf("refused write returned %v, %v", next, err)
			}
			if got := snapshot(t, tw); got != before {
				t.Fatalf("a refused write changed the twin:\n got %s\nwant %s", got, before)
			}
		})
	}
}
