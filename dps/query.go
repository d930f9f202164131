package dps

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Page is one page of a service query.
type Page struct {
	Items []any
	// Continuation is the token for the next page; "" on the last.
	Continuation string
}

// DefaultPageSize is a query page's size when the request sets none;
// MaxPageSize the largest one served.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// queryBody is a query request: DPS accepts SELECT * over the collection
// its path names, nothing else.
type queryBody struct {
	Query string `json:"query"`
}

var (
	selectAll = regexp.MustCompile(`(?i)^\s*select\s+\*\s+from\s+([a-z]+)\s*$`)
	// allOfPath is a query that names no collection: "*", as Azure CLI
	// sends, or "SELECT *". It queries the path's collection.
	allOfPath = regexp.MustCompile(`(?i)^\s*(select\s+)?\*\s*$`)
)

// checkQuery accepts an empty body (the SDKs' default), "*" or "SELECT *"
// (Azure CLI's), or "SELECT * FROM <collection>" naming one of the
// collections given.
func checkQuery(body []byte, collections ...string) error {
	if strings.TrimSpace(string(body)) == "" {
		return nil
	}
	var q queryBody
	if err := json.Unmarshal(body, &q); err != nil {
		return badRequest("The query body is not a JSON object with a query: %v", err)
	}
	if strings.TrimSpace(q.Query) == "" || allOfPath.MatchString(q.Query) {
		return nil
	}
	m := selectAll.FindStringSubmatch(q.Query)
	if m == nil {
		return badRequest("The query '%s' is not supported: the provisioning service answers only SELECT * FROM %s.", q.Query, collections[0])
	}
	for _, c := range collections {
		if strings.EqualFold(m[1], c) {
			return nil
		}
	}
	return badRequest("The query names '%s'; this endpoint queries %s.", m[1], collections[0])
}

// QueryEnrollments pages through the individual enrollments.
func (s *Service) QueryEnrollments(body []byte, size int, continuation string) (Page, error) {
	if err := checkQuery(body, "enrollments"); err != nil {
		return Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return paged(sortedKeys(s.enrollments), size, continuation, func(k string) any { return s.publicLocked(individual, s.enrollments[k]) })
}

// QueryEnrollmentGroups pages through the enrollment groups.
func (s *Service) QueryEnrollmentGroups(body []byte, size int, continuation string) (Page, error) {
	if err := checkQuery(body, "enrollmentGroups", "enrollments"); err != nil {
		return Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return paged(sortedKeys(s.groups), size, continuation, func(k string) any { return s.publicLocked(groupKind, s.groups[k]) })
}

// QueryGroupRegistrations pages through the registration states of the
// devices that registered through an enrollment group.
func (s *Service) QueryGroupRegistrations(groupID string, body []byte, size int, continuation string) (Page, error) {
	if err := checkQuery(body, "enrollments", "registrations", "enrollmentGroups"); err != nil {
		return Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.groups[key(groupID)] == nil {
		return Page{}, notFound("enrollment group", groupID)
	}
	var keys []string
	for _, k := range sortedKeys(s.records) {
		if strings.EqualFold(s.records[k].Group, groupID) {
			keys = append(keys, k)
		}
	}
	return paged(keys, size, continuation, func(k string) any { st := s.records[k].State; return &st })
}

// paged cuts one page from keys (sorted): the continuation token names the
// last key of the page before, so a page is stable under concurrent
// inserts.
func paged(keys []string, size int, continuation string, item func(string) any) (Page, error) {
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	start := 0
	if continuation != "" {
		after, err := base64.RawURLEncoding.DecodeString(continuation)
		if err != nil {
			return Page{}, badRequest("The continuation token is not one this service issued.")
		}
		for start < len(keys) && keys[start] <= string(after) {
			start++
		}
	}
	p := Page{Items: []any{}}
	end := min(start+size, len(keys))
	for _, k := range keys[start:end] {
		p.Items = append(p.Items, item(k))
	}
	if end < len(keys) {
		p.Continuation = base64.RawURLEncoding.EncodeToString([]byte(keys[end-1]))
	}
	return p, nil
}

// Bulk modes of POST /enrollments.
const (
	BulkCreate            = "create"
	BulkUpdate            = "update"
	BulkUpdateIfMatchETag = "updateIfMatchETag"
	BulkDelete            = "delete"
)

// maxBulk is DPS's limit of enrollments per bulk operation.
const maxBulk = 10

// BulkResult is a bulk enrollment operation's answer.
type BulkResult struct {
	IsSuccessful bool        `json:"isSuccessful"`
	Errors       []BulkError `json:"errors"`
}

// BulkError is one refused enrollment of a bulk operation.
type BulkError struct {
	RegistrationID string `json:"registrationId"`
	ErrorCode      int    `json:"errorCode"`
	ErrorStatus    string `json:"errorStatus"`
}

// Bulk runs a bulk enrollment operation: every enrollment of the batch is
// checked first, and the batch is applied only if all of them can be, so a
// refused batch changes nothing.
func (s *Service) Bulk(ctx context.Context, body []byte) (BulkResult, error) {
	var req struct {
		Mode        string            `json:"mode"`
		Enrollments []json.RawMessage `json:"enrollments"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return BulkResult{}, badRequest("The bulk operation is not a JSON object with mode and enrollments: %v", err)
	}
	switch req.Mode {
	case BulkCreate, BulkUpdate, BulkUpdateIfMatchETag, BulkDelete:
	default:
		return BulkResult{}, badRequest("The bulk mode '%s' is not one of create, update, updateIfMatchETag, delete.", req.Mode)
	}
	if len(req.Enrollments) == 0 || len(req.Enrollments) > maxBulk {
		return BulkResult{}, badRequest("A bulk operation has 1 to %d enrollments; this one has %d.", maxBulk, len(req.Enrollments))
	}
	type item struct {
		e       *Enrollment
		ifMatch string
	}
	items := make([]item, 0, len(req.Enrollments))
	res := BulkResult{IsSuccessful: true, Errors: []BulkError{}}
	fail := func(id string, err error) {
		e := errcode.From(err)
		res.IsSuccessful = false
		res.Errors = append(res.Errors, BulkError{RegistrationID: id, ErrorCode: int(e.Code), ErrorStatus: e.Message})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, raw := range req.Enrollments {
		var head struct {
			RegistrationID string `json:"registrationId"`
			ETag           string `json:"etag"`
		}
		_ = json.Unmarshal(raw, &head)
		id := head.RegistrationID
		if seen[key(id)] {
			fail(id, badRequest("The enrollment '%s' is in the batch more than once.", id))
			continue
		}
		seen[key(id)] = true
		cur := s.enrollments[key(id)]
		if req.Mode == BulkDelete {
			switch {
			case cur == nil:
				fail(id, notFound("enrollment", id))
			case head.ETag != "" && !etagMatches(head.ETag, cur.ETag):
				fail(id, preconditionFailed(head.ETag))
			default:
				items = append(items, item{e: cur, ifMatch: head.ETag})
			}
			continue
		}
		e, err := parseEnrollment(raw, id, false)
		if err != nil {
			fail(id, err)
			continue
		}
		ifMatch := ""
		switch {
		case req.Mode == BulkCreate && cur != nil:
			fail(id, errcode.New(errcode.ProvisioningConflict, "The enrollment '%s' already exists.", id))
			continue
		case req.Mode == BulkUpdateIfMatchETag:
			if cur == nil {
				fail(id, notFound("enrollment", id))
				continue
			}
			if !etagMatches(head.ETag, cur.ETag) || head.ETag == "" {
				fail(id, preconditionFailed(head.ETag))
				continue
			}
			ifMatch = head.ETag
		}
		items = append(items, item{e: e, ifMatch: ifMatch})
	}
	if !res.IsSuccessful {
		return res, nil
	}
	for _, it := range items {
		var err error
		if req.Mode == BulkDelete {
			err = s.deleteLocked(ctx, individual, it.e.RegistrationID, it.ifMatch)
		} else {
			_, err = s.putLocked(ctx, individual, it.e, it.ifMatch)
		}
		if err != nil {
			// Only the store can fail here; what was written stays written.
			return BulkResult{}, err
		}
	}
	return res, nil
}
