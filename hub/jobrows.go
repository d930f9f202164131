package hub

import "github.com/iothub-emulator/iothub-emulator/query"

// PutJobRow makes a per-device job row (keyed deviceId/jobId) visible to
// queries over devices.jobs; a nil row removes it. The job runner owns and
// persists the rows: the hub only indexes them beside the twins.
func (h *Hub) PutJobRow(key string, row map[string]any) {
	if row == nil {
		h.index.Delete(query.Jobs, key)
		return
	}
	h.index.Put(query.Jobs, key, query.MapDoc(row))
}
