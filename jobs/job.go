// Package jobs runs IoT Hub's scheduled jobs (jobs v2): a direct method or
// a twin update applied to every device a query condition selects, at a
// start time, within a maximum execution time.
//
// A job is queued (or scheduled, when it starts later), then running, then
// completed, failed (out of time) or cancelled. Each device the job reaches
// gets a row (its status, outcome, error) that queries over devices.jobs
// see. Jobs and rows are persisted as they change, so a job survives a
// restart: a running job resumes with the devices it had not yet reached,
// and one whose time ran out while the emulator was down fails.
package jobs

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Job types, as the service API names them.
const (
	TypeDeviceMethod = "scheduleDeviceMethod"
	TypeUpdateTwin   = "scheduleUpdateTwin"
)

// Job and device statuses.
const (
	StatusQueued    = "queued"
	StatusScheduled = "scheduled"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// DefaultMaxExecution is a job's maximum execution time when the request
// names none.
const DefaultMaxExecution = time.Hour

// maxJobIDLength bounds a job id as IoT Hub bounds identity ids.
const maxJobIDLength = 128

// Statistics are a job's device counts.
type Statistics struct {
	DeviceCount    int `json:"deviceCount"`
	FailedCount    int `json:"failedCount"`
	SucceededCount int `json:"succeededCount"`
	RunningCount   int `json:"runningCount"`
	PendingCount   int `json:"pendingCount"`
}

// Job is a job's record, as stored and (through Wire) as answered.
type Job struct {
	ID                  string          `json:"jobId"`
	Type                string          `json:"type"`
	QueryCondition      string          `json:"queryCondition"`
	CloudToDeviceMethod json.RawMessage `json:"cloudToDeviceMethod,omitempty"`
	UpdateTwin          json.RawMessage `json:"updateTwin,omitempty"`
	Created             time.Time       `json:"createdTime"`
	Start               time.Time       `json:"startTime"`
	End                 *time.Time      `json:"endTime,omitempty"`
	MaxExecutionSeconds int64           `json:"maxExecutionTimeInSeconds"`
	Status              string          `json:"status"`
	FailureReason       string          `json:"failureReason,omitempty"`
	StatusMessage       string          `json:"statusMessage,omitempty"`
	Stats               Statistics      `json:"deviceJobStatistics"`
	// Devices are the targets, fixed when the job starts; Done counts the
	// ones reached. Neither is on the wire.
	Devices []string `json:"devices,omitempty"`
	Done    int      `json:"done,omitempty"`
}

// Terminal reports whether the job has finished one way or another.
func (j *Job) Terminal() bool {
	return j.Status == StatusCompleted || j.Status == StatusFailed || j.Status == StatusCancelled
}

// deadline is when the job runs out of time.
func (j *Job) deadline() time.Time {
	return j.Start.Add(time.Duration(j.MaxExecutionSeconds) * time.Second)
}

// Wire is the job as the service API answers it (JobResponse).
func (j *Job) Wire() map[string]any {
	w := map[string]any{
		"jobId":                     j.ID,
		"type":                      j.Type,
		"queryCondition":            j.QueryCondition,
		"createdTime":               wireTime(j.Created),
		"startTime":                 wireTime(j.Start),
		"maxExecutionTimeInSeconds": j.MaxExecutionSeconds,
		"status":                    j.Status,
		"deviceJobStatistics":       j.Stats,
	}
	if j.End != nil {
		w["endTime"] = wireTime(*j.End)
	}
	if len(j.CloudToDeviceMethod) > 0 {
		w["cloudToDeviceMethod"] = j.CloudToDeviceMethod
	}
	if len(j.UpdateTwin) > 0 {
		w["updateTwin"] = j.UpdateTwin
	}
	if j.FailureReason != "" {
		w["failureReason"] = j.FailureReason
	}
	if j.StatusMessage != "" {
		w["statusMessage"] = j.StatusMessage
	}
	return w
}

func wireTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// request is the body of PUT /jobs/v2/{id} (JobRequest).
type request struct {
	JobID                     string          `json:"jobId"`
	Type                      string          `json:"type"`
	CloudToDeviceMethod       json.RawMessage `json:"cloudToDeviceMethod"`
	UpdateTwin                json.RawMessage `json:"updateTwin"`
	QueryCondition            string          `json:"queryCondition"`
	StartTime                 *string         `json:"startTime"`
	MaxExecutionTimeInSeconds *int64          `json:"maxExecutionTimeInSeconds"`
}

// methodSpec is the part of cloudToDeviceMethod the runner checks up front.
type methodSpec struct {
	MethodName string `json:"methodName"`
}

// ParseRequest validates a job request for the job id of the URL and
// returns the job it creates at now (not yet stored). Every refusal is an
// *errcode.Error.
func ParseRequest(id string, body []byte, now time.Time) (*Job, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errcode.New(errcode.ArgumentNull, "The job request body is empty.")
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The job request is not a valid JobRequest: %v.", err)
	}
	if req.JobID != "" && req.JobID != id {
		return nil, errcode.New(errcode.ArgumentInvalid, "The job request is for job '%s', but the URL names job '%s'.", req.JobID, id)
	}
	j := &Job{ID: id, Type: req.Type, Created: now, Start: now, MaxExecutionSeconds: int64(DefaultMaxExecution / time.Second)}
	switch req.Type {
	case TypeDeviceMethod:
		var m methodSpec
		if isNull(req.CloudToDeviceMethod) {
			return nil, errcode.New(errcode.ArgumentNull, "A scheduleDeviceMethod job needs cloudToDeviceMethod.")
		}
		if err := json.Unmarshal(req.CloudToDeviceMethod, &m); err != nil {
			return nil, errcode.New(errcode.ArgumentInvalid, "cloudToDeviceMethod is not a method invocation: %v.", err)
		}
		if m.MethodName == "" {
			return nil, errcode.New(errcode.ArgumentNull, "cloudToDeviceMethod.methodName is required.")
		}
		j.CloudToDeviceMethod = req.CloudToDeviceMethod
	case TypeUpdateTwin:
		if isNull(req.UpdateTwin) {
			return nil, errcode.New(errcode.ArgumentNull, "A scheduleUpdateTwin job needs updateTwin.")
		}
		patch, err := twinPatch(req.UpdateTwin)
		if err != nil {
			return nil, err
		}
		j.UpdateTwin = patch
	case "":
		return nil, errcode.New(errcode.ArgumentNull, "The job request names no type.")
	default:
		return nil, errcode.New(errcode.ArgumentInvalid, "Job type '%s' is not supported here; use scheduleDeviceMethod or scheduleUpdateTwin.", req.Type)
	}
	if strings.TrimSpace(req.QueryCondition) == "" {
		return nil, errcode.New(errcode.ArgumentNull, "The job request needs a queryCondition.")
	}
	if _, err := TargetQuery(req.QueryCondition); err != nil {
		return nil, err
	}
	j.QueryCondition = req.QueryCondition
	if req.StartTime != nil && *req.StartTime != "" {
		t, err := time.Parse(time.RFC3339Nano, *req.StartTime)
		if err != nil {
			return nil, errcode.New(errcode.ArgumentInvalid, "startTime %q is not an ISO-8601 date and time.", *req.StartTime)
		}
		if t.After(now) {
			j.Start = t.UTC()
		}
	}
	if req.MaxExecutionTimeInSeconds != nil {
		if *req.MaxExecutionTimeInSeconds <= 0 {
			return nil, errcode.New(errcode.ArgumentInvalid, "maxExecutionTimeInSeconds must be positive, not %d.", *req.MaxExecutionTimeInSeconds)
		}
		j.MaxExecutionSeconds = *req.MaxExecutionTimeInSeconds
	}
	j.Status = StatusQueued
	if j.Start.After(now) {
		j.Status = StatusScheduled
	}
	return j, nil
}

// TargetQuery compiles a query condition (a WHERE clause over device
// twins) into the query that selects the job's devices.
func TargetQuery(cond string) (*query.Query, error) {
	q, err := query.Parse("SELECT * FROM devices WHERE " + cond)
	if err != nil {
		return nil, errcode.Wrap(errcode.ArgumentInvalid, err, "The queryCondition is invalid: %v", err)
	}
	return q, nil
}

// twinPatch keeps the writable parts of a job's updateTwin (tags and
// desired properties) and checks them as a twin PATCH would be.
func twinPatch(raw json.RawMessage) (json.RawMessage, error) {
	var t struct {
		Tags       map[string]any `json:"tags"`
		Properties struct {
			Desired map[string]any `json:"desired"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "updateTwin is not a twin: %v.", err)
	}
	patch := map[string]any{}
	if t.Tags != nil {
		patch["tags"] = t.Tags
	}
	if t.Properties.Desired != nil {
		patch["properties"] = map[string]any{"desired": t.Properties.Desired}
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return nil, errcode.Wrap(errcode.ServerError, err, "could not encode the twin patch")
	}
	if _, err := twin.ParseServiceBody(b); err != nil {
		return nil, err
	}
	return b, nil
}

func checkID(id string) error {
	if id == "" {
		return errcode.New(errcode.ArgumentNull, "The job id is empty.")
	}
	if len(id) > maxJobIDLength {
		return errcode.New(errcode.ArgumentInvalid, "The job id is longer than %d characters.", maxJobIDLength)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == '/' {
			return errcode.New(errcode.ArgumentInvalid, "The job id %q holds a character a job id may not.", id)
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
