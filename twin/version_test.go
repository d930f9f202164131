package twin_test

import (
	"testing"

	"github.com/iothub-emulator/iothub-emulator/twin"
)

func TestVersionsAndETag(t *testing.T) {
	type state struct{ version, desired, reported int64 }
	tests := []struct {
		name string
		op   func(tw *twin.Twin) error
		want state
	}{
		{"tags patch", func(tw *twin.Twin) error {
			_, err := tw.Patch(parse(t, `{"tags":{"a":1}}`), at(1))
			return err
		}, state{2, 1, 1}},
		{"desired patch", func(tw *twin.Twin) error {
			_, err := tw.Patch(parse(t, `{"properties":{"desired":{"a":1}}}`), at(2))
			return err
		}, state{3, 2, 1}},
		{"tags and desired in one patch count once", func(tw *twin.Twin) error {
			_, err := tw.Patch(parse(t, `{"tags":{"b":1},"properties":{"desired":{"b":1}}}`), at(3))
			return err
		}, state{4, 3, 1}},
		{"reported patch", func(tw *twin.Twin) error {
			_, err := tw.PatchReported([]byte(`{"r":1}`), at(4))
			return err
		}, state{5, 3, 2}},
		{"empty reported patch is still a write", func(tw *twin.Twin) error {
			_, err := tw.PatchReported([]byte(`{}`), at(5))
			return err
		}, state{6, 3, 3}},
		{"rejected reported patch changes no version", func(tw *twin.Twin) error {
			_, err := tw.PatchReported([]byte(`{"a.b":1}`), at(6))
			return err
		}, state{6, 3, 3}},
		{"rejected desired patch changes no version", func(tw *twin.Twin) error {
			_, err := tw.Patch(twin.ServiceUpdate{Desired: map[string]any{"": 1}, HasDesired: true}, at(6))
			return err
		}, state{6, 3, 3}},
		{"empty desired patch still bumps desired", func(tw *twin.Twin) error {
			_, err := tw.Patch(parse(t, `{"properties":{"desired":{}}}`), at(7))
			return err
		}, state{7, 4, 3}},
		{"body that writes nothing is refused", func(tw *twin.Twin) error {
			_, err := twin.ParseServiceBody([]byte(`{"deviceId":"d"}`))
			if err == nil {
				t.Error("a body with neither tags nor desired was accepted")
			}
			return err
		}, state{7, 4, 3}},
		{"replace of tags only", func(tw *twin.Twin) error {
			_, err := tw.Replace(parse(t, `{"tags":{}}`), at(9))
			return err
		}, state{8, 4, 3}},
		{"replace of desired", func(tw *twin.Twin) error {
			_, err := tw.Replace(parse(t, `{"properties":{"desired":{"z":1}}}`), at(10))
			return err
		}, state{9, 5, 3}},
	}
	tw := twin.New(at(0))
	if tw.Version() != 1 || tw.DesiredVersion() != 1 || tw.ReportedVersion() != 1 || tw.ETag() != "AAAAAAAAAAE=" {
		t.Fatalf("fresh twin: version %d desired %d reported %d etag %s", tw.Version(), tw.DesiredVersion(), tw.ReportedVersion(), tw.ETag())
	}
	etags := map[string]bool{tw.ETag(): true}
	prevETag := tw.ETag()
	for _, tt := range tests {
		err := tt.op(tw)
		got := state{tw.Version(), tw.DesiredVersion(), tw.ReportedVersion()}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v (err %v)", tt.name, got, tt.want, err)
		}
		if err != nil {
			if tw.ETag() != prevETag {
				t.Errorf("%s: rejected write moved the ETag", tt.name)
			}
			continue
		}
		if etags[tw.ETag()] {
			t.Errorf("%s: ETag %s repeated", tt.name, tw.ETag())
		}
		etags[tw.ETag()] = true
		prevETag = tw.ETag()
	}
}

func TestPatchReportedReturnsNewVersion(t *testing.T) {
	tw := twin.New(at(0))
	for want := int64(2); want <= 5; want++ {
		if got := report(t, tw, `{"n":1}`, at(int(want))); got != want || tw.ReportedVersion() != want {
			t.Fatalf("PatchReported returned %d, ReportedVersion %d, want %d", got, tw.ReportedVersion(), want)
		}
	}
}

func TestETagFormat(t *testing.T) {
	// The ETag is the base64 of the big-endian counter, which moves once per write.
	want := []string{"AAAAAAAAAAE=", "AAAAAAAAAAI=", "AAAAAAAAAAM="}
	tw := twin.New(at(0))
	for i, w := range want {
		if i > 0 {
			report(t, tw, `{}`, at(i))
		}
		if tw.ETag() != w {
			t.Errorf("after %d writes ETag = %s, want %s", i, tw.ETag(), w)
		}
	}
	// Past one byte the counter carries into the next: writes 4 to 256.
	for i := 4; i <= 256; i++ {
		report(t, tw, `{}`, at(1))
	}
	if got := tw.ETag(); got != "AAAAAAAAAQA=" {
		t.Errorf("ETag at 256 = %s, want AAAAAAAAAQA=", got)
	}
}
