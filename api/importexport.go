package api

import (
	"net/http"

	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// The import and export job routes (/jobs/create and /jobs/{id}).

// importExportRoutes are the rows of the import/export jobs API; both
// kinds of job read or write the whole registry.
func (s *server) importExportRoutes() []route {
	read, write, class := registry.RegistryRead, registry.RegistryWrite, faults.JobsOperations
	return []route{
		{"POST", "/jobs/create", s.createImportExportJob, need(write), class},
		{"GET", "/jobs", s.listImportExportJobs, need(read), class},
		{"GET", "/jobs/{jobId}", s.getImportExportJob, need(read), class},
		{"DELETE", "/jobs/{jobId}", s.cancelImportExportJob, need(write), class},
	}
}

func (s *server) createImportExportJob(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.imports.Create(r.Context(), body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j)
}

func (s *server) listImportExportJobs(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, s.imports.List())
}

func (s *server) getImportExportJob(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "jobId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.imports.Get(id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j)
}

// cancelImportExportJob answers the job as it is after the cancel: 200.
func (s *server) cancelImportExportJob(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "jobId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	j, err := s.imports.Cancel(r.Context(), id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, j)
}
