package faults

import (
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// newClock is the manual clock these tests move.
func newClock() *testkit.Clock {
	return testkit.NewClockAt(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
}

func TestAddRefusesBadSpecsAndChangesNothing(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"no kind", Spec{DeviceID: "d", Duration: time.Second}},
		{"unknown kind", Spec{Kind: "explode", DeviceID: "d", Duration: time.Second}},
		{"drop through Add", Spec{Kind: KindDrop, DeviceID: "d", Duration: time.Second}},
		{"no device", Spec{Kind: KindRefuseConnects, Duration: time.Second}},
		{"slash in device", Spec{Kind: KindRefuseConnects, DeviceID: "a/b", Duration: time.Second}},
		{"slash in module", Spec{Kind: KindRefuseConnects, DeviceID: "a", ModuleID: "m/x", Duration: time.Second}},
		{"no duration", Spec{Kind: KindRefuseConnects, DeviceID: "d"}},
		{"negative duration", Spec{Kind: KindRefuseConnects, DeviceID: "d", Duration: -time.Second}},
		{"endless", Spec{Kind: KindRefuseConnects, DeviceID: "d", Duration: MaxDuration + time.Second}},
		{"negative start", Spec{Kind: KindRefuseConnects, DeviceID: "d", Duration: time.Second, StartIn: -time.Second}},
		{"far start", Spec{Kind: KindRefuseConnects, DeviceID: "d", Duration: time.Second, StartIn: MaxDuration + time.Second}},
		{"connack 4", Spec{Kind: KindRefuseConnects, DeviceID: "d", ConnackCode: 4, Duration: time.Second}},
		{"connack on throttle", Spec{Kind: KindThrottleDevice, DeviceID: "d", ConnackCode: 3, Duration: time.Second}},
		{"operation on identity fault", Spec{Kind: KindQuotaExceeded, DeviceID: "d", Operation: TwinReads, Duration: time.Second}},
		{"delay twin without delay", Spec{Kind: KindDelayTwin, DeviceID: "d", Duration: time.Second}},
		{"delay twin too long", Spec{Kind: KindDelayTwin, DeviceID: "d", Delay: MaxTwinDelay + 1, Duration: time.Second}},
		{"delay on refuse", Spec{Kind: KindRefuseConnects, DeviceID: "d", Delay: time.Second, Duration: time.Second}},
		{"throttle without operation", Spec{Kind: KindThrottle, Duration: time.Second}},
		{"throttle unknown operation", Spec{Kind: KindThrottle, Operation: "everything", Duration: time.Second}},
		{"throttle with identity", Spec{Kind: KindThrottle, Operation: Queries, DeviceID: "d", Duration: time.Second}},
	}
	f := newInjector(t, newClock().Now, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Add(tt.spec)
			if !errcode.Is(err, errcode.ArgumentInvalid) {
				t.Fatalf("Add(%+v) = %v, want ArgumentInvalid", tt.spec, err)
			}
			if got := f.Active(); len(got) != 0 {
				t.Fatalf("a refused fault was added: %v", got)
			}
		})
	}
}

func TestRefuseConnects(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	ft, err := f.RefuseConnects("dev1", "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ft.ConnackCode != ConnackServerUnavailable || ft.Kind != KindRefuseConnects || !ft.End.Equal(c.Now().Add(10*time.Second)) {
		t.Fatalf("fault = %+v", ft)
	}
	tests := []struct {
		device, module string
		after          time.Duration
		wantRefused    bool
	}{
		{"dev1", "", 0, true},
		{"dev1", "mod1", 0, false}, // a module is its own identity
		{"dev2", "", 0, false},
		{"dev1", "", 9 * time.Second, true},
		{"dev1", "", 10 * time.Second, false}, // ended
	}
	for _, tt := range tests {
		c.Advance(tt.after)
		code, refused := f.ConnectRefusal(tt.device, tt.module)
		if refused != tt.wantRefused || (refused && code != 3) {
			t.Errorf("%s/%s after %v: refused=%v code=%d, want refused=%v code 3", tt.device, tt.module, tt.after, refused, code, tt.wantRefused)
		}
	}
	if got := f.Active(); len(got) != 0 {
		t.Errorf("ended fault still listed: %v", got)
	}
}

func TestNotAuthorizedWinsOverServerUnavailable(t *testing.T) {
	f := newInjector(t, newClock().Now, nil)
	if _, err := f.RefuseConnects("dev1", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Add(Spec{Kind: KindRefuseConnects, DeviceID: "dev1", ConnackCode: 5, Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if code, refused := f.ConnectRefusal("dev1", ""); !refused || code != 5 {
		t.Fatalf("refusal = %d %v, want 5", code, refused)
	}
}

func TestStartInDefersTheFault(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	ft, err := f.Add(Spec{Kind: KindRefuseConnects, DeviceID: "dev1", StartIn: 5 * time.Second, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, refused := f.ConnectRefusal("dev1", ""); refused {
		t.Fatal("refused before the fault starts")
	}
	if got := f.Active(); len(got) != 1 || got[0].ID != ft.ID {
		t.Fatalf("a scheduled fault must be listed: %v", got)
	}
	c.Advance(5 * time.Second)
	if _, refused := f.ConnectRefusal("dev1", ""); !refused {
		t.Fatal("not refused once started")
	}
	c.Advance(time.Second)
	if _, refused := f.ConnectRefusal("dev1", ""); refused {
		t.Fatal("refused after the end")
	}
}

func TestDelayTwin(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	if _, err := f.DelayTwin("dev1", "mod1", 2*time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DelayTwin("dev1", "mod1", 3*time.Second, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := f.TwinDelay("dev1", "mod1"); d != 3*time.Second {
		t.Errorf("delay = %v, want the longest, 3s", d)
	}
	if d := f.TwinDelay("dev1", ""); d != 0 {
		t.Errorf("the device itself is delayed %v", d)
	}
	c.Advance(10 * time.Second)
	if d := f.TwinDelay("dev1", "mod1"); d != 2*time.Second {
		t.Errorf("delay after the shorter fault ended = %v, want 2s", d)
	}
	c.Advance(time.Minute)
	if d := f.TwinDelay("dev1", "mod1"); d != 0 {
		t.Errorf("delay after every fault ended = %v", d)
	}
}

func TestThrottle(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	if _, err := f.Throttle(TwinReads, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.Admit(TwinReads); !errcode.Is(err, errcode.ThrottlingException) {
		t.Errorf("Admit(twinReads) = %v, want ThrottlingException", err)
	}
	if err := f.Admit(TwinUpdates); err != nil {
		t.Errorf("Admit(twinUpdates) = %v, want nil", err)
	}
	c.Advance(time.Second)
	if err := f.Admit(TwinReads); err != nil {
		t.Errorf("Admit after the end = %v", err)
	}
}

func TestDeviceError(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	if err := f.DeviceError("dev1", ""); err != nil {
		t.Fatalf("no fault: %v", err)
	}
	if _, err := f.Add(Spec{Kind: KindThrottleDevice, DeviceID: "dev1", Duration: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeviceError("dev1", ""); !errcode.Is(err, errcode.ThrottlingException) {
		t.Errorf("throttled: %v", err)
	}
	if _, err := f.Add(Spec{Kind: KindQuotaExceeded, DeviceID: "dev1", Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeviceError("dev1", ""); !errcode.Is(err, errcode.IotHubQuotaExceeded) {
		t.Errorf("quota and throttled: %v, want quota", err)
	}
	if err := f.DeviceError("dev2", ""); err != nil {
		t.Errorf("another device: %v", err)
	}
	c.Advance(time.Second)
	if err := f.DeviceError("dev1", ""); !errcode.Is(err, errcode.ThrottlingException) {
		t.Errorf("after the quota fault ended: %v", err)
	}
	c.Advance(time.Second)
	if err := f.DeviceError("dev1", ""); err != nil {
		t.Errorf("after both ended: %v", err)
	}
}

func TestDropConnection(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a dropper succeeded")
	}
	var got []string
	f, err := New(Options{Dropper: DropperFunc(func(d, m string) { got = append(got, d+"/"+m) })})
	if err != nil {
		t.Fatal(err)
	}
	f.DropConnection("dev1", "mod1")
	if !slices.Equal(got, []string{"dev1/mod1"}) {
		t.Fatalf("dropped %v", got)
	}
}

func TestScheduledDrops(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	if _, err := f.ScheduleDrop("", "", time.Second); !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Errorf("drop without device: %v", err)
	}
	if _, err := f.ScheduleDrop("d", "", -time.Second); !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Errorf("drop in the past: %v", err)
	}
	a, err := f.ScheduleDrop("dev1", "", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ScheduleDrop("dev2", "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Active(); len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
		t.Fatalf("Active = %v, want the sooner drop first", got)
	}
	// A drop never counts as a fault in effect.
	if _, refused := f.ConnectRefusal("dev1", ""); refused {
		t.Error("a drop refuses connects")
	}
	c.Advance(2 * time.Second)
	if !f.ClaimDrop(a.ID) {
		t.Error("due drop not claimable")
	}
	if f.ClaimDrop(a.ID) {
		t.Error("drop claimed twice")
	}
	f.Clear()
	if f.ClaimDrop(b.ID) {
		t.Error("cleared drop still claimable")
	}
	// An unclaimed drop is forgotten a while after its time.
	stale, _ := f.ScheduleDrop("dev3", "", 0)
	c.Advance(dropGrace + time.Second)
	if got := f.Active(); len(got) != 0 {
		t.Errorf("stale drop listed: %v", got)
	}
	if f.ClaimDrop(stale.ID) {
		t.Error("stale drop claimed")
	}
}

func TestRemoveClearActive(t *testing.T) {
	c := newClock()
	f := newInjector(t, c.Now, nil)
	late, _ := f.Add(Spec{Kind: KindThrottle, Operation: Queries, StartIn: time.Minute, Duration: time.Minute})
	early, _ := f.RefuseConnects("dev1", "", time.Minute)
	mid, _ := f.DelayTwin("dev1", "", time.Second, time.Minute)
	got := f.Active()
	ids := []string{}
	for _, ft := range got {
		ids = append(ids, ft.ID)
	}
	if want := []string{early.ID, mid.ID, late.ID}; !slices.Equal(ids, want) {
		t.Fatalf("Active ids = %v, want %v (by start, then by creation)", ids, want)
	}
	if !f.Remove(mid.ID) || f.Remove(mid.ID) || f.Remove("nope") {
		t.Fatal("Remove must report whether the fault existed")
	}
	if n := len(f.Active()); n != 2 {
		t.Fatalf("%d faults after Remove, want 2", n)
	}
	f.Clear()
	if got := f.Active(); got == nil || len(got) != 0 {
		t.Fatalf("Active after Clear = %#v, want an empty, non-nil list", got)
	}
}

// Faults are added, read and removed from many goroutines at once.
func TestInjectorConcurrentUse(t *testing.T) {
	l, err := NewLimiter("S1")
	if err != nil {
		t.Fatal(err)
	}
	f := newInjector(t, nil, l)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ft, err := f.RefuseConnects("dev", "", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				f.ConnectRefusal("dev", "")
				f.TwinDelay("dev", "")
				_ = f.DeviceError("dev", "")
				_ = f.Admit(TwinReads)
				f.Active()
				f.Remove(ft.ID)
				if i == 0 {
					f.Clear()
				}
			}
		}()
	}
	wg.Wait()
}

// newInjector is an Injector whose drops go nowhere, for tests that do not
// drop connections.
func newInjector(t testing.TB, now func() time.Time, l *Limiter) *Injector {
	t.Helper()
	f, err := New(Options{Now: now, Limiter: l, Dropper: DropperFunc(func(string, string) {})})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
