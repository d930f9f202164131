package jobs

import (
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
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Hub is what the runner needs of the hub: the devices a condition selects,
// the two operations a job applies, and the devices.jobs rows.
type Hub interface {
	Query(ctx context.Context, text string, opts query.PageOptions) (query.Page, error)
	UpdateTwin(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string, replace bool) (map[string]any, error)
	InvokeMethod(ctx context.Context, deviceID, moduleID string, body []byte) (hub.MethodResult, error)
	PutJobRow(key string, row map[string]any)
}

// Options configure a Manager.
type Options struct {
	Store  store.Store // required
	Hub    Hub         // required
	Logger *slog.Logger
	Now    func() time.Time
	// Poll bounds how long the runner sleeps before looking at the clock
	// again: a scheduled job starts at most this late. 0 means a second.
	Poll time.Duration
	// Manual starts no runner: the caller (a test on a controlled clock)
	// calls RunDue.
	Manual bool
}

// Manager holds the jobs and runs them, one at a time in start order (as a
// standard hub runs one job at a time).
type Manager struct {
	store store.Store
	hub   Hub
	log   *slog.Logger
	now   func() time.Time
	poll  time.Duration

	mu   sync.Mutex
	jobs map[string]*Job // records are replaced, never modified in place

	runMu  sync.Mutex // one RunDue at a time
	wake   chan struct{}
	worker *background.Worker // nil with Options.Manual
}

// Open loads the stored jobs and their device rows and, unless
// opts.Manual, starts the runner, which resumes unfinished jobs.
func Open(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Hub == nil {
		return nil, errors.New("jobs: Options.Store and Options.Hub are required")
	}
	m := &Manager{store: opts.Store, hub: opts.Hub, log: opts.Logger, now: opts.Now, poll: opts.Poll,
		jobs: map[string]*Job{}, wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.poll <= 0 {
		m.poll = time.Second
	}
	err := m.store.ForEach(store.Jobs, func(key string, value []byte) error {
		j := new(Job)
		if err := json.Unmarshal(value, j); err != nil {
			return fmt.Errorf("job %q: %w", key, err)
		}
		m.jobs[key] = j
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: load: %w", err)
	}
	err = m.store.ForEach(store.JobDevices, func(key string, value []byte) error {
		var row map[string]any
		if err := json.Unmarshal(value, &row); err != nil {
			return fmt.Errorf("job row %q: %w", key, err)
		}
		m.hub.PutJobRow(key, row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: load rows: %w", err)
	}
	m.log.Info("jobs loaded", "jobs", len(m.jobs))
	if !opts.Manual {
		m.worker = background.Start(m.loop)
	}
	return m, nil
}

// Close stops the runner, waiting for it. A job it was running stays
// running in the store and resumes on the next Open.
func (m *Manager) Close() error {
	m.worker.Stop()
	return nil
}

func (m *Manager) loop(ctx context.Context) {
	for {
		m.RunDue(ctx)
		wait := m.poll
		if next, ok := m.nextStart(); ok {
			wait = min(wait, max(next.Sub(m.now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// nextStart is the start time of the earliest job waiting to start.
func (m *Manager) nextStart() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	found := false
	for _, j := range m.jobs {
		if j.Status == StatusScheduled && (!found || j.Start.Before(next)) {
			next, found = j.Start, true
		}
	}
	return next, found
}

// Create stores a new job from a request body and has it run when due.
func (m *Manager) Create(ctx context.Context, id string, body []byte) (*Job, error) {
	j, err := ParseRequest(id, body, m.now())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.jobs[id]; dup {
		return nil, errcode.New(errcode.ArgumentInvalid, "A job with id '%s' already exists.", id)
	}
	if err := m.persist(ctx, j); err != nil {
		return nil, err
	}
	m.jobs[id] = j
	m.log.Info("job created", "job", id, "type", j.Type, "start", j.Start)
	m.poke()
	return j, nil
}

// Get returns a job.
func (m *Manager) Get(id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return nil, errcode.New(errcode.JobNotFound, "Job '%s' was not found.", id)
	}
	return j, nil
}

// Cancel cancels a job that has not finished; a finished job is returned
// as it is.
func (m *Manager) Cancel(ctx context.Context, id string) (*Job, error) {
	return m.update(ctx, id, func(j *Job) ([]store.Op, bool) {
		if j.Terminal() {
			return nil, false
		}
		j.Status = StatusCancelled
		end := m.now()
		j.End = &end
		return nil, true
	})
}

// List returns the jobs of a type and status ("" for any), oldest first.
func (m *Manager) List(jobType, status string) []*Job {
	m.mu.Lock()
	out := make([]*Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		if (jobType == "" || j.Type == jobType) && (status == "" || j.Status == status) {
			out = append(out, j)
		}
	}
	m.mu.Unlock()
	sortJobs(out)
	return out
}

func sortJobs(js []*Job) {
	sort.Slice(js, func(a, b int) bool {
		if !js[a].Created.Equal(js[b].Created) {
			return js[a].Created.Before(js[b].Created)
		}
		return js[a].ID < js[b].ID
	})
}

// update applies fn to a copy of the job and, if fn keeps it, persists
// the copy with fn's extra operations and makes it current.
func (m *Manager) update(ctx context.Context, id string, fn func(j *Job) ([]store.Op, bool)) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.jobs[id]
	if !ok {
		return nil, errcode.New(errcode.JobNotFound, "Job '%s' was not found.", id)
	}
	next := *cur
	next.Devices = cur.Devices // never modified after the job starts
	extra, keep := fn(&next)
	if !keep {
		return cur, nil
	}
	if err := m.persist(ctx, &next, extra...); err != nil {
		return nil, err
	}
	m.jobs[id] = &next
	return &next, nil
}

func (m *Manager) persist(ctx context.Context, j *Job, extra ...store.Op) error {
	b, err := json.Marshal(j)
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode job %s", j.ID)
	}
	ops := append([]store.Op{{Bucket: store.Jobs, Key: j.ID, Value: b}}, extra...)
	if err := m.store.Apply(ctx, ops...); err != nil {
		m.log.Error("store write failed", "job", j.ID, "err", err)
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not persist the job; nothing was written.")
	}
	return nil
}

// RunDue runs every job that is due now, one after the other, until none
// is; it returns early when ctx ends.
func (m *Manager) RunDue(ctx context.Context) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	for ctx.Err() == nil {
		j := m.due()
		if j == nil {
			return
		}
		if err := m.run(ctx, j.ID); err != nil && ctx.Err() == nil {
			// A store failure: leave the job as it is and try again later.
			m.log.Error("job run failed", "job", j.ID, "err", err)
			return
		}
	}
}

// due is the job to run next: one already running, else the earliest
// queued or scheduled job whose start time has come.
func (m *Manager) due() *Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []*Job
	for _, j := range m.jobs {
		if j.Status == StatusRunning || ((j.Status == StatusQueued || j.Status == StatusScheduled) && !j.Start.After(now)) {
			out = append(out, j)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Slice(out, func(a, b int) bool {
		if (out[a].Status == StatusRunning) != (out[b].Status == StatusRunning) {
			return out[a].Status == StatusRunning
		}
		if !out[a].Start.Equal(out[b].Start) {
			return out[a].Start.Before(out[b].Start)
		}
		return out[a].ID < out[b].ID
	})
	return out[0]
}

// run takes one job from where it is to its end (or to ctx's end).
func (m *Manager) run(ctx context.Context, id string) error {
	j, err := m.Get(id)
	if err != nil {
		return err
	}
	if j.Status != StatusRunning {
		devices, err := m.targets(ctx, j)
		if err != nil {
			// The condition was checked when the job was created; a
			// failure now is the query engine refusing it at run time.
			reason := "The job's queryCondition could not be evaluated: " + errcode.From(err).Message
			_, err = m.update(ctx, id, func(j *Job) ([]store.Op, bool) {
				if j.Terminal() {
					return nil, false
				}
				m.finish(j, StatusFailed, reason)
				return nil, true
			})
			return err
		}
		j, err = m.update(ctx, id, func(j *Job) ([]store.Op, bool) {
			if j.Terminal() {
				return nil, false
			}
			j.Status, j.Devices, j.Done = StatusRunning, devices, 0
			j.Stats = Statistics{DeviceCount: len(devices), PendingCount: len(devices)}
			return nil, true
		})
		if err != nil {
			return err
		}
		m.log.Info("job running", "job", id, "devices", len(devices))
	}
	for !j.Terminal() && j.Done < len(j.Devices) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !m.now().Before(j.deadline()) {
			break
		}
		device := j.Devices[j.Done]
		start := m.now()
		outcome, failure := m.execute(ctx, j, device)
		if ctx.Err() != nil {
			return ctx.Err() // closing: the device is retried on the next Open
		}
		var row map[string]any
		var rowKey string
		j, err = m.update(ctx, id, func(j *Job) ([]store.Op, bool) {
			if j.Terminal() {
				return nil, false
			}
			r, op, err := m.row(j, device, start, outcome, failure)
			if err != nil {
				m.log.Error("job row", "job", j.ID, "device", device, "err", err)
				return nil, false
			}
			row, rowKey = r, op.Key
			j.Done++
			j.Stats.PendingCount--
			if failure != nil {
				j.Stats.FailedCount++
			} else {
				j.Stats.SucceededCount++
			}
			return []store.Op{op}, true
		})
		if err != nil {
			return err
		}
		if row != nil {
			m.hub.PutJobRow(rowKey, row)
		}
	}
	_, err = m.update(ctx, id, func(j *Job) ([]store.Op, bool) {
		if j.Terminal() {
			return nil, false
		}
		if j.Done < len(j.Devices) {
			m.finish(j, StatusFailed, fmt.Sprintf("The job did not finish within its maxExecutionTimeInSeconds (%d); %d devices were not reached.", j.MaxExecutionSeconds, len(j.Devices)-j.Done))
		} else {
			m.finish(j, StatusCompleted, "")
		}
		return nil, true
	})
	if err == nil {
		m.log.Info("job finished", "job", id)
	}
	return err
}

func (m *Manager) finish(j *Job, status, reason string) {
	end := m.now()
	j.Status, j.End, j.FailureReason = status, &end, reason
}

// targets lists the device ids the job's condition selects, in id order.
func (m *Manager) targets(ctx context.Context, j *Job) ([]string, error) {
	// Only the ids: whole twins would be rendered for nothing.
	text := "SELECT deviceId FROM devices WHERE " + j.QueryCondition
	var ids []string
	opts := query.PageOptions{MaxItemCount: query.MaxPageSize}
	for {
		page, err := m.hub.Query(ctx, text, opts)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if doc, ok := it.(map[string]any); ok {
				if id, ok := doc["deviceId"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		if page.Continuation == "" {
			return ids, nil
		}
		opts.Continuation = page.Continuation
	}
}

// execute applies the job to one device: its outcome, or why it failed.
func (m *Manager) execute(ctx context.Context, j *Job, device string) (outcome map[string]any, failure *errcode.Error) {
	switch j.Type {
	case TypeDeviceMethod:
		res, err := m.hub.InvokeMethod(ctx, device, "", j.CloudToDeviceMethod)
		if err != nil {
			return nil, errcode.From(err)
		}
		return map[string]any{"deviceMethodResponse": res}, nil
	default:
		if _, err := m.hub.UpdateTwin(ctx, device, "", j.UpdateTwin, "", false); err != nil {
			return nil, errcode.From(err)
		}
		return nil, nil
	}
}

// row builds a device's devices.jobs row (as queries see it) and the store
// operation that keeps it.
func (m *Manager) row(j *Job, device string, start time.Time, outcome map[string]any, failure *errcode.Error) (map[string]any, store.Op, error) {
	r := map[string]any{
		"deviceId":               device,
		"jobId":                  j.ID,
		"jobType":                j.Type,
		"status":                 StatusCompleted,
		"startTimeUtc":           wireTime(start),
		"endTimeUtc":             wireTime(m.now()),
		"createdDateTimeUtc":     wireTime(j.Created),
		"lastUpdatedDateTimeUtc": wireTime(m.now()),
	}
	if outcome != nil {
		r["outcome"] = outcome
	}
	if failure != nil {
		r["status"] = StatusFailed
		r["error"] = map[string]any{"code": failure.Code.Name(), "description": failure.Message}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, store.Op{}, err
	}
	// The index holds JSON-decoded values, as for twins.
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, store.Op{}, err
	}
	return doc, store.Op{Bucket: store.JobDevices, Key: device + "/" + j.ID, Value: b}, nil
}

// Reset removes every job and its devices.jobs rows, as the emulator's
// reset does. A job running meanwhile stops at its next step, which finds
// the job gone.
func (m *Manager) Reset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ops []store.Op
	for id := range m.jobs {
		ops = append(ops, store.Op{Bucket: store.Jobs, Key: id})
	}
	var rows []string
	err := m.store.ForEach(store.JobDevices, func(key string, _ []byte) error {
		rows = append(rows, key)
		return nil
	})
	if err != nil {
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not read the job rows.")
	}
	for _, key := range rows {
		ops = append(ops, store.Op{Bucket: store.JobDevices, Key: key})
	}
	if err := m.store.Apply(ctx, ops...); err != nil {
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not remove the jobs; nothing was changed.")
	}
	for _, key := range rows {
		m.hub.PutJobRow(key, nil)
	}
	m.jobs = map[string]*Job{}
	return nil
}
