package importexport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/background"
	"github.com/iothub-emulator/iothub-emulator/internal/guid"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Registry is what the jobs need of the hub.
type Registry interface {
	ExportDevices(ctx context.Context, excludeKeys bool, fn func(line []byte) error) error
	ImportDevices(ctx context.Context, lines []json.RawMessage) []hub.BulkError
}

// Configurations is what includeConfigurations needs: every configuration
// as IoT Hub answers it, and a create-or-update of one. Nil leaves
// configurations out of every job.
type Configurations interface {
	ExportConfigurations() [][]byte
	ImportConfiguration(ctx context.Context, raw []byte) (id string, err error)
}

// MaxActiveJobs is how many import and export jobs may wait or run at
// once: one, as on IoT Hub.
const MaxActiveJobs = 1

// Options configure a Manager.
type Options struct {
	Store          store.Store // required
	Registry       Registry    // required
	Configurations Configurations
	Storage        Storage
	Logger         *slog.Logger
	Now            func() time.Time
	// Manual starts no runner: the caller (a test) calls RunNext.
	Manual bool
}

// Manager keeps the import and export jobs and runs them one at a time.
type Manager struct {
	store   store.Store
	reg     Registry
	configs Configurations
	storage Storage
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	jobs    map[string]*Job // records are replaced, never modified in place
	cancels map[string]context.CancelFunc

	runMu  sync.Mutex // one RunNext at a time
	wake   chan struct{}
	worker *background.Worker
}

// Open loads the stored jobs; one a restart cut short waits to run again.
// Unless opts.Manual, it starts the runner.
func Open(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Registry == nil {
		return nil, errors.New("importexport: Options.Store and Options.Registry are required")
	}
	m := &Manager{store: opts.Store, reg: opts.Registry, configs: opts.Configurations, storage: opts.Storage,
		log: opts.Logger, now: opts.Now, jobs: map[string]*Job{}, cancels: map[string]context.CancelFunc{},
		wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	err := m.store.ForEach(store.ImportExport, func(key string, value []byte) error {
		var s stored
		if err := json.Unmarshal(value, &s); err != nil {
			return fmt.Errorf("job %q: %w", key, err)
		}
		j := s.Job
		j.Created = s.CreatedAt
		if j.Status == StatusRunning {
			j.Status, j.Progress = StatusEnqueued, 0
		}
		m.jobs[key] = &j
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("importexport: load: %w", err)
	}
	if !opts.Manual {
		m.worker = background.Start(m.loop)
	}
	return m, nil
}

// Close stops the runner, cancelling a job it runs (which runs again on
// the next Open).
func (m *Manager) Close() error {
	m.worker.Stop()
	return nil
}

func (m *Manager) loop(ctx context.Context) {
	for {
		for m.RunNext(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Create stores a new job from a /jobs/create body and has it run.
func (m *Manager) Create(ctx context.Context, body []byte) (*Job, error) {
	j, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	if j.IncludeConfigurations && m.configs == nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "includeConfigurations needs configurations, which this hub does not serve.")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	active := 0
	for _, other := range m.jobs {
		if !other.finished() {
			active++
		}
	}
	if active >= MaxActiveJobs {
		return nil, errcode.New(errcode.JobQuotaExceeded, "An import or export job is already active; the hub runs %d at a time.", MaxActiveJobs)
	}
	now := m.now().UTC()
	j.JobID = newJobID()
	j.Status = StatusEnqueued
	j.StartTimeUTC = &now
	j.Created = now
	if err := m.persist(ctx, j); err != nil {
		return nil, err
	}
	m.jobs[j.JobID] = j
	m.log.Info("import/export job created", "job", j.JobID, "type", j.Type)
	m.poke()
	return j, nil
}

// Get returns a job.
func (m *Manager) Get(id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return nil, jobNotFound(id)
	}
	return j, nil
}

// List returns every job, oldest first.
func (m *Manager) List() []*Job {
	m.mu.Lock()
	out := make([]*Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, j)
	}
	m.mu.Unlock()
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return out[a].JobID < out[b].JobID
	})
	return out
}

// Cancel cancels a job that has not finished (a running one stops between
// identities, keeping what it wrote); a finished job is returned as it is.
func (m *Manager) Cancel(ctx context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return nil, jobNotFound(id)
	}
	if j.finished() {
		return j, nil
	}
	next := *j
	next.Status = StatusCancelled
	end := m.now().UTC()
	next.EndTimeUTC = &end
	if err := m.persist(ctx, &next); err != nil {
		return nil, err
	}
	m.jobs[id] = &next
	if cancel := m.cancels[id]; cancel != nil {
		cancel()
	}
	m.log.Info("import/export job cancelled", "job", id)
	return &next, nil
}

// Reset removes every job, cancelling the one running.
func (m *Manager) Reset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ops := make([]store.Op, 0, len(m.jobs))
	for id := range m.jobs {
		ops = append(ops, store.Op{Bucket: store.ImportExport, Key: id})
	}
	if err := m.store.Apply(ctx, ops...); err != nil {
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not remove the import/export jobs.")
	}
	for _, cancel := range m.cancels {
		cancel()
	}
	m.jobs = map[string]*Job{}
	return nil
}

func jobNotFound(id string) error {
	return errcode.New(errcode.JobNotFound, "Import/export job '%s' was not found.", id)
}

func newJobID() string { return guid.New() }

// persist writes one job record; the caller holds m.mu.
func (m *Manager) persist(ctx context.Context, j *Job) error {
	b, err := json.Marshal(stored{Job: *j, CreatedAt: j.Created})
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode job %s", j.JobID)
	}
	if err := m.store.Apply(ctx, store.Op{Bucket: store.ImportExport, Key: j.JobID, Value: b}); err != nil {
		m.log.Error("store write failed", "job", j.JobID, "err", err)
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not persist the job; nothing was written.")
	}
	return nil
}

// transition replaces a job's record unless it was cancelled meanwhile;
// it reports whether it did.
func (m *Manager) transition(ctx context.Context, id string, change func(*Job)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || j.Status == StatusCancelled {
		return false
	}
	next := *j
	change(&next)
	if err := m.persist(ctx, &next); err != nil {
		return false
	}
	m.jobs[id] = &next
	return true
}

// RunNext runs the oldest waiting job to its end; it reports whether there
// was one.
func (m *Manager) RunNext(ctx context.Context) bool {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	var next *Job
	for _, j := range m.List() {
		if j.Status == StatusEnqueued {
			next = j
			break
		}
	}
	if next == nil || ctx.Err() != nil {
		return false
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.cancels[next.JobID] = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.cancels, next.JobID)
		m.mu.Unlock()
	}()
	if !m.transition(ctx, next.JobID, func(j *Job) { j.Status = StatusRunning }) {
		return true
	}
	m.log.Info("import/export job running", "job", next.JobID, "type", next.Type)
	var err error
	if next.Type == TypeExport {
		err = m.export(jobCtx, next)
	} else {
		err = m.importJob(jobCtx, next)
	}
	if ctx.Err() != nil {
		// Closing: the job stays running in the store and runs again.
		return false
	}
	end := m.now().UTC()
	m.transition(ctx, next.JobID, func(j *Job) {
		j.EndTimeUTC = &end
		if err != nil {
			j.Status, j.FailureReason = StatusFailed, err.Error()
			return
		}
		j.Status, j.Progress = StatusCompleted, 100
	})
	if err != nil {
		m.log.Warn("import/export job failed", "job", next.JobID, "err", err)
	} else {
		m.log.Info("import/export job completed", "job", next.JobID)
	}
	return true
}

// export writes the registry (and the configurations) to the output
// container.
func (m *Manager) export(ctx context.Context, j *Job) error {
	out, err := m.storage.open(j.OutputBlobContainerURI)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = m.reg.ExportDevices(ctx, j.ExcludeKeysInExport, func(line []byte) error {
		buf.Write(line)
		buf.WriteByte('\n')
		if buf.Len() > maxBlobRead {
			return fmt.Errorf("the export is larger than %d bytes", maxBlobRead)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := out.put(ctx, j.OutputBlobName, buf.Bytes(), "text/plain"); err != nil {
		return err
	}
	if j.IncludeConfigurations {
		var cfgs bytes.Buffer
		for _, c := range m.configs.ExportConfigurations() {
			cfgs.Write(c)
			cfgs.WriteByte('\n')
		}
		if err := out.put(ctx, j.ConfigurationsBlobName, cfgs.Bytes(), "text/plain"); err != nil {
			return err
		}
	}
	return nil
}

// importJob applies the input blob's lines (and configurations) and
// writes the failures, one JSON object a line, to importErrors.log in the
// output container.
func (m *Manager) importJob(ctx context.Context, j *Job) error {
	in, err := m.storage.open(j.InputBlobContainerURI)
	if err != nil {
		return err
	}
	out, err := m.storage.open(j.OutputBlobContainerURI)
	if err != nil {
		return err
	}
	// The output container is checked before anything is imported, so a
	// job that could not report its errors changes nothing.
	if err := out.put(ctx, ImportErrorsBlob, nil, "text/plain"); err != nil {
		return err
	}
	data, err := in.get(ctx, j.InputBlobName)
	if err != nil {
		return err
	}
	lines := splitLines(data)
	var errLog bytes.Buffer
	const chunk = 1000
	for start := 0; start < len(lines); start += chunk {
		end := min(start+chunk, len(lines))
		for _, e := range m.reg.ImportDevices(ctx, lines[start:end]) {
			b, _ := json.Marshal(importError{DeviceID: e.DeviceID, ModuleID: e.ModuleID, ErrorCode: e.ErrorCode, ErrorStatus: e.ErrorStatus})
			errLog.Write(b)
			errLog.WriteByte('\n')
		}
		if ctx.Err() != nil {
			break
		}
		progress := end * 100 / len(lines)
		m.transition(ctx, j.JobID, func(j *Job) { j.Progress = min(progress, 99) })
	}
	if j.IncludeConfigurations && ctx.Err() == nil {
		if err := m.importConfigurations(ctx, in, j, &errLog); err != nil {
			return err
		}
	}
	if err := out.put(context.WithoutCancel(ctx), ImportErrorsBlob, errLog.Bytes(), "text/plain"); err != nil {
		return err
	}
	return ctx.Err()
}

func (m *Manager) importConfigurations(ctx context.Context, in *container, j *Job, errLog *bytes.Buffer) error {
	data, err := in.get(ctx, j.ConfigurationsBlobName)
	if err != nil {
		return err
	}
	for _, line := range splitLines(data) {
		id, err := m.configs.ImportConfiguration(ctx, line)
		if err != nil {
			e := errcode.From(err)
			b, _ := json.Marshal(importError{ConfigurationID: id, ErrorCode: e.Code.Name(), ErrorStatus: e.Message})
			errLog.Write(b)
			errLog.WriteByte('\n')
		}
	}
	return nil
}

// importError is one line of importErrors.log.
type importError struct {
	DeviceID        string `json:"deviceId,omitempty"`
	ModuleID        string `json:"moduleId,omitempty"`
	ConfigurationID string `json:"configurationId,omitempty"`
	ErrorCode       string `json:"errorCode"`
	ErrorStatus     string `json:"errorStatus"`
}

// splitLines returns a blob's non-blank lines.
func splitLines(data []byte) []json.RawMessage {
	var out []json.RawMessage
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		if len(line) > 0 {
			out = append(out, json.RawMessage(line))
		}
	}
	return out
}
