// Package importexport is IoT Hub's import and export jobs (POST
// /jobs/create): an export writes every identity with its twin, one JSON
// object a line, to a blob in a container named by a SAS URI; an import
// reads such a blob and creates, updates or deletes the identities it
// names, writing what failed to importErrors.log beside it. Containers are
// reached with their SAS: the emulator's built-in blob endpoint in
// process (its blobs live under the data directory), any other account
// (Azurite, Azure Storage) over HTTPS.
//
// As on IoT Hub, one import or export job runs at a time; jobs are kept
// in the store, and one cut short by a restart runs again from the start.
package importexport

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Job types and statuses, IoT Hub's names.
const (
	TypeExport = "export"
	TypeImport = "import"

	StatusEnqueued  = "enqueued"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Default blob names, as IoT Hub uses them.
const (
	DefaultDevicesBlob        = "devices.txt"
	DefaultConfigurationsBlob = "configurations.txt"
	ImportErrorsBlob          = "importErrors.log"
)

// Job is IoT Hub's JobProperties, as stored and answered.
type Job struct {
	JobID                     string     `json:"jobId"`
	StartTimeUTC              *time.Time `json:"startTimeUtc,omitempty"`
	EndTimeUTC                *time.Time `json:"endTimeUtc,omitempty"`
	Type                      string     `json:"type"`
	Status                    string     `json:"status"`
	Progress                  int        `json:"progress"`
	InputBlobContainerURI     string     `json:"inputBlobContainerUri,omitempty"`
	InputBlobName             string     `json:"inputBlobName,omitempty"`
	OutputBlobContainerURI    string     `json:"outputBlobContainerUri,omitempty"`
	OutputBlobName            string     `json:"outputBlobName,omitempty"`
	ExcludeKeysInExport       bool       `json:"excludeKeysInExport"`
	StorageAuthenticationType string     `json:"storageAuthenticationType,omitempty"`
	FailureReason             string     `json:"failureReason,omitempty"`
	IncludeConfigurations     bool       `json:"includeConfigurations"`
	ConfigurationsBlobName    string     `json:"configurationsBlobName,omitempty"`

	// Created orders the jobs; not on the wire.
	Created time.Time `json:"-"`
}

// stored is the job as the store keeps it: the wire form and the order.
type stored struct {
	Job
	CreatedAt time.Time `json:"createdAt"`
}

func (j *Job) finished() bool {
	return j.Status == StatusCompleted || j.Status == StatusFailed || j.Status == StatusCancelled
}

// request is a /jobs/create body.
type request struct {
	Type                      string          `json:"type"`
	InputBlobContainerURI     string          `json:"inputBlobContainerUri"`
	InputBlobName             string          `json:"inputBlobName"`
	OutputBlobContainerURI    string          `json:"outputBlobContainerUri"`
	OutputBlobName            string          `json:"outputBlobName"`
	ExcludeKeysInExport       *bool           `json:"excludeKeysInExport"`
	StorageAuthenticationType string          `json:"storageAuthenticationType"`
	Identity                  json.RawMessage `json:"identity"`
	IncludeConfigurations     *bool           `json:"includeConfigurations"`
	ConfigurationsBlobName    string          `json:"configurationsBlobName"`
}

// parseRequest checks a /jobs/create body and returns the job it asks
// for, without id, times or status. Every refusal is an *errcode.Error.
func parseRequest(raw []byte) (*Job, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, errcode.New(errcode.ArgumentNull, "The request body is empty; send the job's JobProperties.")
	}
	var r request
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The body is not valid JobProperties: %v.", err)
	}
	j := &Job{Type: r.Type, InputBlobContainerURI: r.InputBlobContainerURI, InputBlobName: r.InputBlobName,
		OutputBlobContainerURI: r.OutputBlobContainerURI, OutputBlobName: r.OutputBlobName,
		StorageAuthenticationType: r.StorageAuthenticationType, ConfigurationsBlobName: r.ConfigurationsBlobName}
	if r.ExcludeKeysInExport != nil {
		j.ExcludeKeysInExport = *r.ExcludeKeysInExport
	}
	if r.IncludeConfigurations != nil {
		j.IncludeConfigurations = *r.IncludeConfigurations
	}
	switch {
	case strings.EqualFold(j.Type, TypeExport):
		j.Type = TypeExport
		if strings.TrimSpace(j.OutputBlobContainerURI) == "" {
			return nil, errcode.New(errcode.ArgumentNull, "An export job needs outputBlobContainerUri.")
		}
		if j.OutputBlobName == "" {
			j.OutputBlobName = DefaultDevicesBlob
		}
	case strings.EqualFold(j.Type, TypeImport):
		j.Type = TypeImport
		if strings.TrimSpace(j.InputBlobContainerURI) == "" || strings.TrimSpace(j.OutputBlobContainerURI) == "" {
			return nil, errcode.New(errcode.ArgumentNull, "An import job needs inputBlobContainerUri and outputBlobContainerUri.")
		}
		if j.InputBlobName == "" {
			j.InputBlobName = DefaultDevicesBlob
		}
	case j.Type == "":
		return nil, errcode.New(errcode.ArgumentNull, "The job needs a type: export or import.")
	default:
		return nil, errcode.New(errcode.ArgumentInvalid, "Job type '%s' is not an import or export job; schedule device jobs with /jobs/v2.", j.Type)
	}
	if j.IncludeConfigurations && j.ConfigurationsBlobName == "" {
		j.ConfigurationsBlobName = DefaultConfigurationsBlob
	}
	switch {
	case j.StorageAuthenticationType == "" || strings.EqualFold(j.StorageAuthenticationType, "keyBased"):
		if j.StorageAuthenticationType != "" {
			j.StorageAuthenticationType = "keyBased"
		}
	case strings.EqualFold(j.StorageAuthenticationType, "identityBased"):
		return nil, errcode.New(errcode.ArgumentInvalid, "storageAuthenticationType identityBased needs a managed identity, which the emulator does not have; use keyBased with a SAS URI.")
	default:
		return nil, errcode.New(errcode.ArgumentInvalid, "storageAuthenticationType '%s' is not keyBased or identityBased.", j.StorageAuthenticationType)
	}
	for _, u := range []string{j.InputBlobContainerURI, j.OutputBlobContainerURI} {
		if u == "" {
			continue
		}
		if _, err := (Storage{}).open(u); err != nil {
			return nil, errcode.New(errcode.ArgumentInvalid, "A blob container URI is invalid: %v.", err)
		}
	}
	for _, name := range []string{j.InputBlobName, j.OutputBlobName, j.ConfigurationsBlobName} {
		if strings.ContainsAny(name, "?#") || strings.HasSuffix(name, "/") {
			return nil, errcode.New(errcode.ArgumentInvalid, "'%s' is not a blob name.", name)
		}
	}
	return j, nil
}
