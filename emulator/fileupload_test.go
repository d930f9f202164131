package emulator

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// asDevice sends a request signed with a device's key.
func (s *service) asDevice(method, url, deviceID, key, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		tok, _ := sas.NewToken("localhost/devices/"+deviceID, key, "", time.Now().Add(time.Hour))
		req.Header.Set("Authorization", tok)
	}
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFileUploadToTheBuiltInEndpoint(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, false)
	svc := newService(t, e)
	key := svc.createDevice("d1")
	base := "https://" + e.Addr(HTTPS)

	var up fileupload.Upload
	if st := svc.do("POST", "/devices/d1/files", map[string]string{"blobName": "a.txt"}, &up); st != 200 {
		t.Fatalf("start: %d", st) // the owner policy has DeviceConnect, as IoT Hub's has
	}
	if up.HostName != e.Addr(HTTPS)+"/"+blobstore.BuiltInAccount {
		t.Fatalf("hostName %q, want the host the request used and the account", up.HostName)
	}
	blobURL := "https://" + up.HostName + "/" + up.ContainerName + "/" + up.BlobName + up.SASToken
	if st, body := svc.asDevice("PUT", blobURL, "d1", "", "hello"); st != 201 {
		t.Fatalf("upload: %d %s", st, body)
	}
	if st, body := svc.asDevice("POST", base+"/devices/d1/files/notifications/"+up.CorrelationID, "d1", key, `{"isSuccess":true,"statusCode":201,"statusDescription":"ok"}`); st != 204 {
		t.Fatalf("notify: %d %s", st, body)
	}
	if st, body := svc.asDevice("GET", "https://"+up.HostName+"/"+up.ContainerName+"/"+up.BlobName, "d1", "", ""); st != 403 || !strings.Contains(body, "<Code>AuthenticationFailed</Code>") {
		t.Fatalf("read without a SAS: %d %s", st, body)
	}

	// Both survive a restart: the blob under the data dir, the notification in the store.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := start(t, dir, false)
	svc2 := newService(t, e2)
	moved := strings.Replace(blobURL, e.Addr(HTTPS), e2.Addr(HTTPS), 1)
	if st, body := svc2.asDevice("GET", moved, "d1", "", ""); st != 200 || body != "hello" {
		t.Fatalf("read after restart: %d %q", st, body)
	}
	var ns []fileupload.Notification
	if st := svc2.do("GET", "/emulator/messages/filenotifications", nil, &ns); st != 200 || len(ns) != 1 || ns[0].BlobSizeInBytes != 5 || ns[0].DeviceID != "d1" {
		t.Fatalf("notifications after restart: %d %+v", st, ns)
	}
}

func TestFileUploadToAnExternalAccount(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = 0, 0, 0, 0
	cfg.AMQPSPort, cfg.AMQPPort = 0, 0
	cfg.InMemory = true
	cfg.FileUploadStorage = "UseDevelopmentStorage=true"
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	svc := newService(t, e)
	svc.createDevice("d1")
	var up fileupload.Upload
	if st := svc.do("POST", "/devices/d1/files", map[string]string{"blobName": "a.txt"}, &up); st != 200 {
		t.Fatalf("start: %d", st)
	}
	if up.HostName != "127.0.0.1:10000/devstoreaccount1" || !strings.Contains(up.SASToken, "sig=") {
		t.Fatalf("answer %+v, want Azurite's account", up)
	}
	// The built-in endpoint is off: its paths are the API's 404s.
	if st, _ := svc.asDevice("GET", "https://"+e.Addr(HTTPS)+"/"+blobstore.BuiltInAccount+"/fileuploads/d1/a.txt"+up.SASToken, "d1", "", ""); st != 404 {
		t.Fatalf("built-in endpoint answered %d with external storage", st)
	}

	bad := DefaultConfig()
	bad.FileUploadStorage = "AccountName=x"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--file-upload-storage") {
		t.Fatalf("a connection string without a key passed validation: %v", err)
	}
}
