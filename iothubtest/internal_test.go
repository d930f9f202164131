package iothubtest

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/hub"
)

func TestEnvLogLevel(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level slog.Level
		on    bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{" false ", 0, false},
		{"OFF", 0, false},
		{"1", slog.LevelDebug, true},
		{"true", slog.LevelDebug, true},
		{"debug", slog.LevelDebug, true},
		{"info", slog.LevelInfo, true},
		{"WARN", slog.LevelWarn, true},
		{"error", slog.LevelError, true},
		{"loud", slog.LevelDebug, true},
	} {
		level, on := envLogLevel(tc.in)
		if on != tc.on || (on && level != tc.level) {
			t.Errorf("envLogLevel(%q) = %v, %v; want %v, %v", tc.in, level, on, tc.level, tc.on)
		}
	}
}

func TestEnvLoggerFollowsTheEnvironment(t *testing.T) {
	t.Setenv(LogEnv, "")
	if l := envLogger("x"); l != nil {
		t.Fatal("a logger without the variable set")
	}
	t.Setenv(LogEnv, "warn")
	l := envLogger("x")
	if l == nil || l.Enabled(context.Background(), slog.LevelInfo) || !l.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatalf("logger for warn: %v", l)
	}
}

// TestConcurrentNextTelemetryShareTheMessages checks that calls racing for
// one device each get a different message and together get all of them.
func TestConcurrentNextTelemetryShareTheMessages(t *testing.T) {
	h := Start(t)
	h.CreateDevice(t, "d")
	h.CreateModule(t, "d", "m")
	const n, readers = 40, 4
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	for i := range n {
		// Interleave module messages, which the device's stream must skip.
		if err := h.emu.Hub().ReceiveTelemetry(ctx, "d", "m", hub.Telemetry{Body: []byte("module")}); err != nil {
			t.Fatal(err)
		}
		if err := h.emu.Hub().ReceiveTelemetry(ctx, "d", "", hub.Telemetry{Body: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seqs []int64
		errs []error
		wg   sync.WaitGroup
	)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / readers {
				m, err := h.nextTelemetry("d", "", 5*time.Second)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if m.ModuleID != "" {
					t.Errorf("a module message in the device's stream: %+v", m)
				} else {
					seqs = append(seqs, m.SequenceNumber)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == seqs[i-1] {
			t.Fatalf("message %d returned twice", seqs[i])
		}
	}
	if len(seqs) != n {
		t.Fatalf("%d messages returned, want %d", len(seqs), n)
	}
	if _, err := h.nextTelemetry("d", "", 20*time.Millisecond); err == nil {
		t.Fatal("a message left over after every one was returned")
	}
}
