package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/importexport"
)

// TestExportJobToTheBuiltInEndpoint runs an export job through the REST
// API into a container of the built-in blob endpoint, reads the blob back
// with the same SAS, and checks that the emulator's reset removes the job.
func TestExportJobToTheBuiltInEndpoint(t *testing.T) {
	e := start(t, t.TempDir(), false)
	svc := newService(t, e)
	svc.createDevice("d1")
	q, err := blobstore.SignContainerSAS(blobstore.BuiltInAccount, blobstore.BuiltInKey, "exports",
		blobstore.SAS{Permissions: "rwl", Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	container := "https://" + e.Addr(HTTPS) + "/" + blobstore.BuiltInAccount + "/exports?" + q
	var j importexport.Job
	if st := svc.do("POST", "/jobs/create", map[string]any{"type": "export", "outputBlobContainerUri": container, "excludeKeysInExport": true}, &j); st != 200 {
		t.Fatalf("create: %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.Status != importexport.StatusCompleted {
		if j.Status == importexport.StatusFailed || time.Now().After(deadline) {
			t.Fatalf("job %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
		if st := svc.do("GET", "/jobs/"+j.JobID, nil, &j); st != 200 {
			t.Fatalf("get: %d", st)
		}
	}
	st, body := svc.asDevice("GET", "https://"+e.Addr(HTTPS)+"/"+blobstore.BuiltInAccount+"/exports/devices.txt?"+q, "d1", "", "")
	if st != 200 || !strings.Contains(body, `"id":"d1"`) || !strings.Contains(body, `"primaryKey":null`) {
		t.Fatalf("devices.txt: %d %s", st, body)
	}
	var list []importexport.Job
	if st := svc.do("GET", "/jobs", nil, &list); st != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", st, list)
	}
	if st := svc.do("POST", "/emulator/reset", nil, nil); st != 204 {
		t.Fatalf("reset: %d", st)
	}
	if st := svc.do("GET", "/jobs/"+j.JobID, nil, nil); st != 404 {
		t.Fatalf("the job after a reset: %d", st)
	}
}
