package importexport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/configurations"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/store"
)

const testKey = "oP5Svw+paQQi5Fx0IQUnHVOrwPuK0V2CTssG850oPg2om4PhV298pdb3HHZuqBh8"

type env struct {
	t       *testing.T
	st      store.Store
	hub     *hub.Hub
	blobs   *blobstore.Server
	configs *configurations.Manager
	storage Storage
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.Temp(t)
	h := hubtest.Open(t, hub.Options{Store: st})
	bs, err := blobstore.New(blobstore.Options{Account: "iothubemulator", Key: testKey, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := configurations.Open(configurations.Options{Store: st, Hub: h, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	return &env{t: t, st: st, hub: h, blobs: bs, configs: cm,
		storage: Storage{Local: bs, LocalAccount: bs.Account(), LocalHosts: []string{"hub.local"}}}
}

func (e *env) manager() *Manager {
	e.t.Helper()
	m, err := Open(Options{Store: e.st, Registry: e.hub, Configurations: e.configs, Storage: e.storage, Manual: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { m.Close() })
	return m
}

// containerURI is a SAS URI of a built-in container with perms.
func (e *env) containerURI(host, container, perms string) string {
	e.t.Helper()
	q, err := e.blobs.ContainerSAS(container, blobstore.SAS{Permissions: perms, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		e.t.Fatal(err)
	}
	return "https://" + host + "/iothubemulator/" + container + "?" + q
}

func (e *env) readBlob(uri, name string) string {
	e.t.Helper()
	c, err := e.storage.open(uri)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := c.get(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *env) writeBlob(uri, name, data string) {
	e.t.Helper()
	c, err := e.storage.open(uri)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.put(context.Background(), name, []byte(data), "text/plain"); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) device(id, body string) {
	e.t.Helper()
	if _, err := e.hub.PutDevice(context.Background(), id, []byte(body), ""); err != nil {
		e.t.Fatal(err)
	}
}

// run creates a job and runs it to its end.
func run(t *testing.T, m *Manager, body string) *Job {
	t.Helper()
	j, err := m.Create(context.Background(), []byte(body))
	if err != nil {
		t.Fatalf("create %s: %v", body, err)
	}
	if j.Status != StatusEnqueued || j.JobID == "" || j.StartTimeUTC == nil {
		t.Fatalf("created %+v", j)
	}
	if !m.RunNext(context.Background()) {
		t.Fatal("RunNext found no job")
	}
	done, err := m.Get(j.JobID)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func jsonBody(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExportThenImport(t *testing.T) {
	e := newEnv(t)
	e.device("d1", `{}`)
	e.device("d2", `{"status":"disabled"}`)
	if _, err := e.hub.UpdateTwin(context.Background(), "d1", "", []byte(`{"tags":{"site":"a"},"properties":{"desired":{"rate":2}}}`), "", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.configs.Put(context.Background(), "cfg", []byte(`{"content":{"deviceContent":{"properties.desired.x":1}},"targetCondition":"*"}`), ""); err != nil {
		t.Fatal(err)
	}
	m := e.manager()
	out := e.containerURI("localhost", "exports", "rwdl")
	j := run(t, m, jsonBody(t, map[string]any{"type": "export", "outputBlobContainerUri": out, "excludeKeysInExport": false, "includeConfigurations": true}))
	if j.Status != StatusCompleted || j.Progress != 100 || j.EndTimeUTC == nil || j.OutputBlobName != "devices.txt" {
		t.Fatalf("export job %+v", j)
	}
	lines := strings.Split(strings.TrimSpace(e.readBlob(out, "devices.txt")), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":"d1"`) || !strings.Contains(lines[0], `"site":"a"`) || !strings.Contains(lines[1], `"status":"disabled"`) {
		t.Fatalf("devices.txt:\n%s", strings.Join(lines, "\n"))
	}
	if cfgs := e.readBlob(out, "configurations.txt"); !strings.Contains(cfgs, `"id":"cfg"`) {
		t.Fatalf("configurations.txt: %s", cfgs)
	}

	// Into a second, empty hub: the same identities and twins.
	e2 := newEnv(t)
	e2.blobs, e2.storage = e.blobs, e.storage
	m2 := e2.manager()
	j = run(t, m2, jsonBody(t, map[string]any{"type": "import", "inputBlobContainerUri": out, "outputBlobContainerUri": out, "includeConfigurations": true}))
	if j.Status != StatusCompleted {
		t.Fatalf("import job %+v", j)
	}
	if log := e.readBlob(out, ImportErrorsBlob); log != "" {
		t.Fatalf("importErrors.log: %s", log)
	}
	for _, id := range []string{"d1", "d2"} {
		a, _ := e.hub.GetDevice(context.Background(), id)
		b, err := e2.hub.GetDevice(context.Background(), id)
		if err != nil || a.Status != b.Status || *a.Authentication.SymmetricKey != *b.Authentication.SymmetricKey {
			t.Fatalf("%s imported as %+v (%v), exported %+v", id, b, err, a)
		}
	}
	tw, _ := e2.hub.GetTwin(context.Background(), "d1", "")
	if tw["tags"].(map[string]any)["site"] != "a" {
		t.Fatalf("imported twin %v", tw)
	}
	if _, _, err := e2.configs.Get("cfg"); err != nil {
		t.Fatalf("configuration not imported: %v", err)
	}
}

func TestImportErrorsLog(t *testing.T) {
	e := newEnv(t)
	e.device("taken", `{}`)
	m := e.manager()
	in := e.containerURI("hub.local", "imports", "rwl")
	e.writeBlob(in, "batch.txt", "\ufeff"+`{"id":"taken","importMode":"create"}`+"\n\n"+`{"id":"fresh","importMode":"create","tags":{"k":"v"}}`+"\n"+`not json`+"\n")
	j := run(t, m, jsonBody(t, map[string]any{"type": "import", "inputBlobContainerUri": in, "inputBlobName": "batch.txt", "outputBlobContainerUri": in}))
	if j.Status != StatusCompleted {
		t.Fatalf("job %+v", j)
	}
	var codes []string
	for _, line := range strings.Split(strings.TrimSpace(e.readBlob(in, ImportErrorsBlob)), "\n") {
		var ie importError
		if err := json.Unmarshal([]byte(line), &ie); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		codes = append(codes, ie.DeviceID+":"+ie.ErrorCode)
	}
	if want := "taken:DeviceAlreadyExists,:ArgumentInvalid"; strings.Join(codes, ",") != want {
		t.Fatalf("logged %v, want %s", codes, want)
	}
	if _, err := e.hub.GetDevice(context.Background(), "fresh"); err != nil {
		t.Fatal(err)
	}
}

func TestJobFailsWithoutAccess(t *testing.T) {
	e := newEnv(t)
	e.device("d1", `{}`)
	m := e.manager()
	readOnly := e.containerURI("localhost", "exports", "rl")
	j := run(t, m, jsonBody(t, map[string]any{"type": "export", "outputBlobContainerUri": readOnly}))
	if j.Status != StatusFailed || !strings.Contains(j.FailureReason, "403") {
		t.Fatalf("export with a read-only SAS: %+v", j)
	}
	// An import whose output container refuses writes imports nothing.
	in := e.containerURI("localhost", "imports", "rwl")
	e.writeBlob(in, "devices.txt", `{"id":"new"}`)
	bad := strings.Replace(e.containerURI("localhost", "imports", "rwl"), "sig=", "sig=AAAA", 1)
	j = run(t, m, jsonBody(t, map[string]any{"type": "import", "inputBlobContainerUri": in, "outputBlobContainerUri": bad}))
	if j.Status != StatusFailed {
		t.Fatalf("import with a bad output SAS: %+v", j)
	}
	if _, err := e.hub.GetDevice(context.Background(), "new"); err == nil {
		t.Fatal("a failed import created a device")
	}
}

func TestExternalStorage(t *testing.T) {
	e := newEnv(t)
	e.device("d1", `{}`)
	ext, err := blobstore.New(blobstore.Options{Account: "devstoreaccount1", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(ext)
	t.Cleanup(srv.Close)
	e.storage.Client = srv.Client()
	m := e.manager()
	q, err := ext.ContainerSAS("out", blobstore.SAS{Permissions: "rwl", Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	uri := srv.URL + "/devstoreaccount1/out?" + q
	j := run(t, m, jsonBody(t, map[string]any{"type": "export", "outputBlobContainerUri": uri, "outputBlobName": "reg/all.txt"}))
	if j.Status != StatusCompleted {
		t.Fatalf("job %+v", j)
	}
	resp, err := srv.Client().Get(srv.URL + "/devstoreaccount1/out/reg/all.txt?" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading the export back: %d", resp.StatusCode)
	}
}

func TestCreateRules(t *testing.T) {
	e := newEnv(t)
	m := e.manager()
	ctx := context.Background()
	out := e.containerURI("localhost", "exports", "rwl")
	tests := []struct {
		name, body string
		code       errcode.Code
	}{
		{"empty", ``, errcode.ArgumentNull},
		{"not json", `{`, errcode.ArgumentInvalid},
		{"no type", `{"outputBlobContainerUri":"` + out + `"}`, errcode.ArgumentNull},
		{"device job type", `{"type":"scheduleUpdateTwin","outputBlobContainerUri":"` + out + `"}`, errcode.ArgumentInvalid},
		{"export without output", `{"type":"export"}`, errcode.ArgumentNull},
		{"import without input", `{"type":"import","outputBlobContainerUri":"` + out + `"}`, errcode.ArgumentNull},
		{"not a URL", `{"type":"export","outputBlobContainerUri":"exports"}`, errcode.ArgumentInvalid},
		{"no container", `{"type":"export","outputBlobContainerUri":"https://localhost/"}`, errcode.ArgumentInvalid},
		{"identity based", `{"type":"export","outputBlobContainerUri":"` + out + `","storageAuthenticationType":"identityBased"}`, errcode.ArgumentInvalid},
		{"bad blob name", `{"type":"export","outputBlobContainerUri":"` + out + `","outputBlobName":"a?b"}`, errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Create(ctx, []byte(tt.body)); !errors.Is(err, tt.code) {
				t.Fatalf("err %v, want %v", err, tt.code)
			}
			if n := len(m.List()); n != 0 {
				t.Fatalf("a refused job was stored: %d jobs", n)
			}
		})
	}

	// One active job at a time; a cancelled one frees the slot.
	first, err := m.Create(ctx, []byte(`{"type":"export","outputBlobContainerUri":"`+out+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, []byte(`{"type":"export","outputBlobContainerUri":"`+out+`"}`)); !errors.Is(err, errcode.JobQuotaExceeded) {
		t.Fatalf("second active job: %v", err)
	}
	c, err := m.Cancel(ctx, first.JobID)
	if err != nil || c.Status != StatusCancelled || c.EndTimeUTC == nil {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if m.RunNext(ctx) {
		t.Fatal("a cancelled job ran")
	}
	if _, err := m.Create(ctx, []byte(`{"type":"export","outputBlobContainerUri":"`+out+`"}`)); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
	if _, err := m.Get("nope"); !errors.Is(err, errcode.JobNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := m.Cancel(ctx, "nope"); !errors.Is(err, errcode.JobNotFound) {
		t.Fatalf("cancel missing: %v", err)
	}
}

func TestRestartRunsAgain(t *testing.T) {
	e := newEnv(t)
	e.device("d1", `{}`)
	m := e.manager()
	out := e.containerURI("localhost", "exports", "rwl")
	j, err := m.Create(context.Background(), []byte(`{"type":"export","outputBlobContainerUri":"`+out+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	// As if the hub stopped while the job ran.
	if !m.transition(context.Background(), j.JobID, func(j *Job) { j.Status, j.Progress = StatusRunning, 40 }) {
		t.Fatal("transition")
	}
	m.Close()
	m2 := e.manager()
	got, err := m2.Get(j.JobID)
	if err != nil || got.Status != StatusEnqueued || got.Progress != 0 {
		t.Fatalf("after a restart: %+v %v", got, err)
	}
	if !m2.RunNext(context.Background()) {
		t.Fatal("the job did not run again")
	}
	if got, _ := m2.Get(j.JobID); got.Status != StatusCompleted {
		t.Fatalf("rerun: %+v", got)
	}
	if err := m2.Reset(context.Background()); err != nil || len(m2.List()) != 0 {
		t.Fatalf("reset: %v, %d left", err, len(m2.List()))
	}
}

func TestRunnerRuns(t *testing.T) {
	e := newEnv(t)
	e.device("d1", `{}`)
	m, err := Open(Options{Store: e.st, Registry: e.hub, Storage: e.storage})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := e.containerURI("localhost", "exports", "rwl")
	j, err := m.Create(context.Background(), []byte(`{"type":"export","outputBlobContainerUri":"`+out+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := m.Get(j.JobID)
		if got.Status == StatusCompleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 10 s", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
