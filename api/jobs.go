package api

import (
	"net/http"
	"strconv"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/jobs"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// The jobs v2 routes (scheduled device methods and twin updates).

// jobRoutes are the rows of the jobs v2 API; a GET of /jobs/v2/query
// lists jobs, never reads a job named "query".
func (s *server) jobRoutes() []route {
	read, svc, class := registry.RegistryRead, registry.ServiceConnect, faults.JobsOperations
	return []route{
		{"PUT", "/jobs/v2/{jobId}", s.createJob, need(svc), class},
		{"GET", "/jobs/v2/query", s.queryJobs, need(svc | read), class},
		{"GET", "/jobs/v2/{jobId}", s.getJob, need(svc | read), class},
		{"POST", "/jobs/v2/{jobId}/cancel", s.cancelJob, need(svc), class},
	}
}

func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "jobId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.jobs.Create(r.Context(), id, body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j.Wire())
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "jobId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.jobs.Get(id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j.Wire())
}

func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "jobId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.jobs.Cancel(r.Context(), id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j.Wire())
}

// queryJobs lists jobs, filtered by jobType and jobStatus, as a JSON array
// paged by x-ms-max-item-count and x-ms-continuation (an offset).
func (s *server) queryJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	jobType, status := q.Get("jobType"), q.Get("jobStatus")
	switch jobType {
	case "", jobs.TypeDeviceMethod, jobs.TypeUpdateTwin:
	default:
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "jobType '%s' is not a job type.", jobType))
		return
	}
	switch status {
	case "", jobs.StatusQueued, jobs.StatusScheduled, jobs.StatusRunning, jobs.StatusCompleted, jobs.StatusFailed, jobs.StatusCancelled:
	default:
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "jobStatus '%s' is not a job status.", status))
		return
	}
	size, err := intHeader(r, "x-ms-max-item-count")
	if err != nil {
		s.writeError(w, err)
		return
	}
	if size <= 0 {
		size = 100
	}
	offset := 0
	if c := r.Header.Get("x-ms-continuation"); c != "" {
		if offset, err = strconv.Atoi(c); err != nil || offset < 0 {
			s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The continuation token %q is not valid.", c))
			return
		}
	}
	all := s.jobs.List(jobType, status)
	items := []any{}
	for i := offset; i < len(all) && len(items) < size; i++ {
		items = append(items, all[i].Wire())
	}
	w.Header().Set("x-ms-item-type", "JobResponse")
	if offset+len(items) < len(all) {
		w.Header().Set("x-ms-continuation", strconv.Itoa(offset+len(items)))
	}
	s.writeJSON(w, http.StatusOK, items)
}
