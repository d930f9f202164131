package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/parallel"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// GetTwin returns the service view of a device twin (moduleID "") or a
// module twin. The map is shared and must not be modified.
func (h *Hub) GetTwin(_ context.Context, deviceID, moduleID string) (map[string]any, error) {
	e, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	h.stats.twinOps.Inc("read")
	return twinView(e), nil
}

// UpdateTwin applies a REST twin body: a merge (PATCH) or a replacement
// (PUT) of tags and desired properties, conditional on If-Match.
func (h *Hub) UpdateTwin(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string, replace bool) (map[string]any, error) {
	u, err := twin.ParseServiceBody(body)
	if err != nil {
		return nil, err
	}
	if err := bodyNamesURLIdentity(u, deviceID, moduleID); err != nil {
		return nil, err
	}
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	if !etagMatches(ifMatch, cur.twin.ETag()) {
		return nil, errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match the twin's current etag %s.", ifMatch, cur.twin.ETag())
	}
	// The write returns a new twin (the one copy it makes): cur, which
	// readers may hold, stays as it is, and so does the twin on error.
	write := cur.twin.Patched
	if replace {
		write = cur.twin.Replaced
	}
	tw, change, err := write(u, h.now())
	if err != nil {
		return nil, err
	}
	next := cur.with()
	next.twin = tw
	if err := h.commitTwin(ctx, identityKey(deviceID, moduleID), next); err != nil {
		return nil, err
	}
	if change.Changed {
		h.sendDesired(deviceID, moduleID, change)
	}
	op := "patch"
	if replace {
		op = "replace"
	}
	h.stats.twinOps.Inc(op)
	h.log.Debug("twin updated", "device", deviceID, "module", moduleID, "replace", replace, "version", next.twin.Version())
	return twinView(next), nil
}

// sendDesired hands a desired change to the device protocol. It runs under
// the device's key lock, so notifications leave in version order.
func (h *Hub) sendDesired(deviceID, moduleID string, change twin.DesiredChange) {
	body, err := change.Body()
	if err != nil {
		h.log.Error("encode desired notification", "device", deviceID, "module", moduleID, "err", err)
		return
	}
	h.devices.DesiredChanged(deviceID, moduleID, change.Version, body)
}

// Query runs a query text over the twins and returns one page; whole twins
// (SELECT *) come as service views.
func (h *Hub) Query(ctx context.Context, text string, opts query.PageOptions) (query.Page, error) {
	page, err := h.query(text, opts)
	if err != nil {
		return query.Page{}, err
	}
	// Rendered here, outside the index's lock, and on every core.
	parallel.For(len(page.Items), func(i int) {
		if e, ok := page.Items[i].(*entry); ok {
			page.Items[i] = twinView(e)
		}
	})
	return page, nil
}

// QueryDocs is Query for readers that look at a few paths of many twins
// (configurations' sweeps): a SELECT * page's items are the twins as
// query.Doc, read through Lookup without rendering them.
func (h *Hub) QueryDocs(_ context.Context, text string, opts query.PageOptions) (query.Page, error) {
	return h.query(text, opts)
}

// QueryEncoded is Query for a page that is written out as JSON: for whole
// twins, twins holds each item's JSON (as json.Marshal writes its view,
// written on every core without rendering the view) and the page's Items
// are not for use; for other pages twins is nil.
func (h *Hub) QueryEncoded(ctx context.Context, text string, opts query.PageOptions) (page query.Page, twins [][]byte, err error) {
	if page, err = h.query(text, opts); err != nil {
		return query.Page{}, nil, err
	}
	if page.ItemType != query.ItemTypeTwin {
		return page, nil, nil
	}
	twins = make([][]byte, len(page.Items))
	errs := make([]error, len(page.Items))
	parallel.For(len(page.Items), func(i int) {
		if e, ok := page.Items[i].(*entry); ok {
			twins[i] = appendView(make([]byte, 0, 2048), e)
			return
		}
		twins[i], errs[i] = json.Marshal(page.Items[i])
	})
	if err := errors.Join(errs...); err != nil {
		return query.Page{}, nil, errcode.Wrap(errcode.ServerError, err, "could not encode the page")
	}
	return page, twins, nil
}

func (h *Hub) query(text string, opts query.PageOptions) (query.Page, error) {
	start := time.Now()
	q, err := query.Parse(text)
	if err != nil {
		h.stats.queryErrors.Inc("")
		return query.Page{}, queryError(err)
	}
	page, err := h.index.Execute(q, opts)
	if err != nil {
		h.stats.queryErrors.Inc("")
		return query.Page{}, queryError(err)
	}
	h.stats.queries.Observe(time.Since(start).Seconds())
	return page, nil
}

func queryError(err error) error {
	if qe, ok := err.(*query.Error); ok {
		return errcode.Wrap(errcode.ArgumentInvalid, err, "The query is invalid: %s", qe.Error())
	}
	return errcode.From(err)
}

// bodyNamesURLIdentity refuses a twin body whose deviceId or moduleId names
// another identity than the URL: applying it to the URL's twin would write
// what the caller meant for someone else.
func bodyNamesURLIdentity(u twin.ServiceUpdate, deviceID, moduleID string) error {
	if u.DeviceID != "" && u.DeviceID != deviceID {
		return errcode.New(errcode.ArgumentInvalid, "The twin body is for device '%s', but the URL names device '%s'.", u.DeviceID, deviceID)
	}
	if u.ModuleID != "" && u.ModuleID != moduleID {
		if moduleID == "" {
			return errcode.New(errcode.ArgumentInvalid, "The twin body is for module '%s', but the URL names the twin of device '%s'.", u.ModuleID, deviceID)
		}
		return errcode.New(errcode.ArgumentInvalid, "The twin body is for module '%s', but the URL names module '%s'.", u.ModuleID, moduleID)
	}
	return nil
}
