package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/iothub-emulator/iothub-emulator/configurations"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// The configurations routes (automatic device management).

// configurationRoutes are the rows of the configurations API; a POST of
// /configurations/testQueries checks queries, never names a configuration.
func (s *server) configurationRoutes() []route {
	read, write, class := registry.RegistryRead, registry.RegistryWrite, faults.Configurations
	return []route{
		{"GET", "/configurations", s.listConfigurations, need(read), class},
		{"POST", "/configurations/testQueries", s.testConfigurationQueries, need(read), class},
		{"PUT", "/configurations/{configId}", s.putConfiguration, need(write), class},
		{"GET", "/configurations/{configId}", s.getConfiguration, need(read), class},
		{"DELETE", "/configurations/{configId}", s.deleteConfiguration, need(write), class},
		{"POST", "/devices/{id}/applyConfigurationContent", s.applyConfigurationContent, need(write), class},
	}
}

// applyConfigurationContent applies an IoT Edge deployment to one device
// (az iot edge set-modules): 204, or the hub's error with nothing written.
func (s *server) applyConfigurationContent(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "id")
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if err := s.configs.ApplyContent(r.Context(), id, body); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) putConfiguration(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "configId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	c, n, err := s.configs.Put(r.Context(), id, body, ifMatch(r))
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, c.Wire(n))
}

func (s *server) getConfiguration(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "configId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	c, n, err := s.configs.Get(id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, c.Wire(n))
}

func (s *server) deleteConfiguration(w http.ResponseWriter, r *http.Request) {
	id, err := param(r, "configId")
	if err != nil {
		s.writeError(w, err)
		return
	}
	if err := s.configs.Delete(r.Context(), id, ifMatch(r)); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listConfigurations answers every configuration (IoT Hub does not page
// them), or the first top.
func (s *server) listConfigurations(w http.ResponseWriter, r *http.Request) {
	top := 0
	if t := r.URL.Query().Get("top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			s.writeError(w, errcode.New(errcode.ArgumentInvalid, "top %q is not a non-negative number.", t))
			return
		}
		top = n
	}
	items := []any{}
	for _, e := range s.configs.List(top) {
		items = append(items, e.Config.Wire(e.Counts))
	}
	s.writeJSON(w, http.StatusOK, items)
}

// testConfigurationQueries validates a target condition and custom metric
// queries (ConfigurationQueriesTestInput), answering their errors.
func (s *server) testConfigurationQueries(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var in struct {
		TargetCondition     string            `json:"targetCondition"`
		CustomMetricQueries map[string]string `json:"customMetricQueries"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.writeError(w, errcode.New(errcode.ArgumentInvalid, "The body is not a ConfigurationQueriesTestInput: %v.", err))
		return
	}
	targetErr, metricErrs := configurations.TestQueries(in.TargetCondition, in.CustomMetricQueries)
	s.writeJSON(w, http.StatusOK, map[string]any{"targetConditionError": targetErr, "customMetricQueryErrors": metricErrs})
}
