package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func newFileUploadFixture(t *testing.T) (*deviceFixture, *blobstore.Server) {
	t.Helper()
	bs, err := blobstore.New(blobstore.Options{Account: "iothubemulator", Key: blobstore.DevKey})
	if err != nil {
		t.Fatal(err)
	}
	m, err := fileupload.New(fileupload.Options{Store: store.OpenMemory(), Storage: fileupload.BuiltIn{Server: bs}})
	if err != nil {
		t.Fatal(err)
	}
	h := hubtest.Open(t, hub.Options{})
	srv := httptest.NewServer(New(h, Options{FileUploads: m}))
	t.Cleanup(srv.Close)
	f := &deviceFixture{fixture: &fixture{t: t, srv: srv, hub: h, token: ownerToken(t, h)}}
	d, err := h.PutDevice(context.Background(), "d1", []byte(`{"deviceId":"d1"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	f.deviceToken = hubDeviceToken(t, "d1", d.Authentication.SymmetricKey.PrimaryKey)
	return f, bs
}

func TestFileUploadFlow(t *testing.T) {
	f, bs := newFileUploadFixture(t)
	start := func() fileupload.Upload {
		t.Helper()
		r := f.asDevice("POST", "/devices/d1/files?api-version=2020-09-30", `{"blobName":"a.txt"}`, "Content-Type", "application/json")
		if r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
		var up fileupload.Upload
		if err := json.Unmarshal([]byte(r.body), &up); err != nil {
			t.Fatal(err)
		}
		return up
	}
	up := start()
	if up.BlobName != "d1/a.txt" || !strings.HasSuffix(up.HostName, "/iothubemulator") || up.CorrelationID == "" {
		t.Fatalf("start answered %+v", up)
	}
	req := httptest.NewRequest("PUT", "/iothubemulator/"+up.ContainerName+"/"+up.BlobName+up.SASToken, strings.NewReader("data"))
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	rec := httptest.NewRecorder()
	bs.ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}

	for _, tc := range []struct {
		name, path, body, code string
		status                 int
	}{
		{"no body name", "/devices/d1/files", `{}`, "ArgumentNull", 400},
		{"not json", "/devices/d1/files", `{`, "ArgumentInvalid", 400},
		{"unknown correlation id", "/devices/d1/files/notifications", `{"correlationId":"x","isSuccess":true,"statusCode":200}`, "InvalidFileUploadCorrelationId", 400},
		{"unknown id in path", "/devices/d1/files/notifications/x", `{"isSuccess":true}`, "InvalidFileUploadCorrelationId", 400},
		{"no isSuccess", "/devices/d1/files/notifications/" + up.CorrelationID, `{}`, "ArgumentNull", 400},
	} {
		r := f.asDevice("POST", tc.path, tc.body)
		if r.status != tc.status || r.header.Get("iothub-errorcode") != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	saved := f.token
	f.token = policyToken(t, f.hub, "registryRead")
	if r := f.do("POST", "/devices/d1/files", `{"blobName":"a"}`); r.status != 401 {
		t.Errorf("a registryRead token started an upload: %d %s", r.status, r.body)
	}
	f.token = saved
	if r := f.do("GET", "/emulator/messages/filenotifications", ""); r.status != 200 || r.body != "[]" {
		t.Fatalf("notifications before the notify: %d %s", r.status, r.body)
	}

	// Python's form: the id in the body.
	if r := f.asDevice("POST", "/devices/d1/files/notifications", `{"correlationId":"`+up.CorrelationID+`","isSuccess":true,"statusCode":200,"statusDescription":"OK"}`); r.status != 204 {
		t.Fatalf("notify: %d %s", r.status, r.body)
	}
	// Node's form: the id in the path.
	up2 := start()
	if r := f.asDevice("POST", "/devices/d1/files/notifications/"+up2.CorrelationID, `{"isSuccess":false,"statusCode":500,"statusDescription":"failed"}`); r.status != 204 {
		t.Fatalf("notify failure: %d %s", r.status, r.body)
	}
	r := f.do("GET", "/emulator/messages/filenotifications", "")
	var ns []fileupload.Notification
	if err := json.Unmarshal([]byte(r.body), &ns); err != nil || r.status != 200 {
		t.Fatalf("notifications: %d %s", r.status, r.body)
	}
	if len(ns) != 1 || ns[0].DeviceID != "d1" || ns[0].BlobName != "d1/a.txt" || ns[0].BlobSizeInBytes != 4 ||
		ns[0].BlobURI != "https://"+up.HostName+"/"+up.ContainerName+"/d1/a.txt" {
		t.Fatalf("notifications = %+v", ns)
	}
}

func TestFileUploadLimit(t *testing.T) {
	f, _ := newFileUploadFixture(t)
	for i := range fileupload.DefaultMaxActive {
		if r := f.asDevice("POST", "/devices/d1/files", `{"blobName":"a"}`); r.status != 200 {
			t.Fatalf("upload %d: %d %s", i, r.status, r.body)
		}
	}
	r := f.asDevice("POST", "/devices/d1/files", `{"blobName":"a"}`)
	if r.status != 403 || r.header.Get("iothub-errorcode") != "DeviceMaximumActiveFileUploadLimitExceeded" {
		t.Fatalf("11th: %d %s", r.status, r.body)
	}
}
