package fileupload

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestManager(t *testing.T, st store.Store, c *clock) (*Manager, *blobstore.Server) {
	t.Helper()
	bs, err := blobstore.New(blobstore.Options{Account: "iothubemulator", Key: blobstore.DevKey, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Store: st, Storage: BuiltIn{Server: bs}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return m, bs
}

func TestUploadFlow(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st := store.OpenMemory()
	m, bs := newTestManager(t, st, c)

	up, err := m.Start("dev1", "logs/a.txt", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if up.HostName != "127.0.0.1/iothubemulator" || up.ContainerName != DefaultContainer || up.BlobName != "dev1/logs/a.txt" || !strings.HasPrefix(up.SASToken, "?") {
		t.Fatalf("Start = %+v", up)
	}
	// The SAS handed out works on the built-in endpoint.
	req := httptest.NewRequest("PUT", "https://"+up.HostName+"/"+up.ContainerName+"/"+up.BlobName+up.SASToken, strings.NewReader("hello"))
	req.URL.Path = "/iothubemulator/" + up.ContainerName + "/" + up.BlobName
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	rec := httptest.NewRecorder()
	bs.ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}

	if err := m.Complete(ctx, "dev2", up.CorrelationID, Result{IsSuccess: true}); !errcode.Is(err, errcode.InvalidFileUploadCorrelationId) {
		t.Fatalf("another device's notify = %v", err)
	}
	if err := m.Complete(ctx, "dev1", "nope", Result{IsSuccess: true}); !errcode.Is(err, errcode.InvalidFileUploadCorrelationId) {
		t.Fatalf("unknown id = %v", err)
	}
	if len(m.Notifications()) != 0 {
		t.Fatal("a refused notify added a notification")
	}
	if err := m.Complete(ctx, "dev1", up.CorrelationID, Result{IsSuccess: true, StatusCode: 200, StatusDescription: "OK"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, "dev1", up.CorrelationID, Result{IsSuccess: true}); !errcode.Is(err, errcode.InvalidFileUploadCorrelationId) {
		t.Fatalf("second notify = %v", err)
	}
	ns := m.Notifications()
	want := Notification{DeviceID: "dev1", BlobURI: "https://127.0.0.1/iothubemulator/fileuploads/dev1/logs/a.txt", BlobName: "dev1/logs/a.txt",
		LastUpdatedTime: c.t, BlobSizeInBytes: 5, EnqueuedTime: c.t}
	if len(ns) != 1 || ns[0] != want {
		t.Fatalf("Notifications = %+v, want %+v", ns, want)
	}

	// Receive locks it; abandon frees it; complete deletes it, durably.
	n, tok, ok := m.Receive()
	if !ok || n != want {
		t.Fatalf("Receive = %+v %v", n, ok)
	}
	if _, _, ok := m.Receive(); ok {
		t.Fatal("a locked notification was handed out twice")
	}
	if err := m.AbandonNotification(tok); err != nil {
		t.Fatal(err)
	}
	_, tok, ok = m.Receive()
	if !ok {
		t.Fatal("an abandoned notification was not receivable again")
	}
	m2, _ := newTestManager(t, st, c)
	if len(m2.Notifications()) != 1 {
		t.Fatal("the notification was not kept in the store")
	}
	if err := m.CompleteNotification(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := m.CompleteNotification(ctx, tok); !errcode.Is(err, errcode.DeviceMessageLockLost) {
		t.Fatalf("second complete = %v", err)
	}
	if m3, _ := newTestManager(t, st, c); len(m3.Notifications()) != 0 {
		t.Fatal("a completed notification is still in the store")
	}
}

func TestLimitsAndExpiry(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m, _ := newTestManager(t, store.OpenMemory(), c)
	for _, tc := range []struct {
		name string
		blob string
		code errcode.Code
	}{
		{"empty name", "", errcode.ArgumentNull},
		{"too long", strings.Repeat("x", 1100), errcode.ArgumentInvalid},
	} {
		if _, err := m.Start("dev1", tc.blob, "h"); !errcode.Is(err, tc.code) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	var first Upload
	for i := range DefaultMaxActive {
		up, err := m.Start("dev1", "f", "h")
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if i == 0 {
			first = up
		}
	}
	if _, err := m.Start("dev1", "f", "h"); !errcode.Is(err, errcode.DeviceMaximumActiveFileUploadLimitExceeded) {
		t.Fatalf("11th upload = %v", err)
	}
	if _, err := m.Start("dev2", "f", "h"); err != nil {
		t.Fatalf("another device's upload = %v", err)
	}
	// A failed upload ends it without a notification and frees a place.
	if err := m.Complete(ctx, "dev1", first.CorrelationID, Result{IsSuccess: false, StatusCode: 500}); err != nil {
		t.Fatal(err)
	}
	if len(m.Notifications()) != 0 {
		t.Fatal("a failed upload made a notification")
	}
	up, err := m.Start("dev1", "f", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, "dev1", up.CorrelationID, Result{IsSuccess: true}); err != nil {
		t.Fatal(err)
	}
	if n := m.Notifications(); len(n) != 1 || n[0].BlobSizeInBytes != 0 {
		t.Fatalf("notification of a blob never uploaded: %+v", n)
	}
	// Past the SAS lifetime the uploads are no longer active; past the
	// notification TTL the notification is gone.
	c.t = c.t.Add(DefaultSASTTL + time.Second)
	if _, err := m.Start("dev1", "f", "h"); err != nil {
		t.Fatalf("upload after expiry = %v", err)
	}
	if n := m.Notifications(); len(n) != 0 {
		t.Fatalf("expired notification still listed: %+v", n)
	}
	if _, _, ok := m.Receive(); ok {
		t.Fatal("expired notification received")
	}
}
