package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"github.com/iothub-emulator/iothub-emulator/store"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// wait bounds every blocking step in these tests.
const wait = 5 * time.Second

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openHub opens an in-memory hub for localhost.
func openHub(t testing.TB) *hub.Hub {
	t.Helper()
	h, err := hub.Open(hub.Options{Store: store.OpenMemory(), HostNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ownerToken is a SAS token of the iothubowner policy, which has every right.
func ownerToken(t testing.TB, h *hub.Hub) string {
	t.Helper()
	return policyToken(t, h, "iothubowner")
}

// policyToken is a SAS token of one of the hub's policies, for the whole hub.
func policyToken(t testing.TB, h *hub.Hub, policy string) string {
	t.Helper()
	p, ok := h.Policies().Find(policy)
	if !ok {
		t.Fatalf("no policy %s", policy)
	}
	tok, err := sas.NewToken("localhost", p.PrimaryKey, p.Name, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authorized returns req with the token in its Authorization header.
func authorized(req *http.Request, token string) *http.Request {
	req.Header.Set("Authorization", token)
	return req
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// eventually polls cond until it holds or wait passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seqRange(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// goldenJSON compares got, indented, with testdata/name.
func goldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	pretty.WriteByte('\n')
	golden(t, name, pretty.Bytes())
}
