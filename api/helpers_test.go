package api

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"net/http"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// newClock is the manual clock these tests move.
func newClock() *testkit.Clock { return testkit.NewClock() }

// wait bounds every blocking step in these tests.
const wait = 5 * time.Second

// openHub opens an in-memory hub for localhost.
func openHub(t testing.TB) *hub.Hub {
	t.Helper()
	return hubtest.Open(t, hub.Options{})
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
	testkit.Golden(t, name, pretty.Bytes())
}
