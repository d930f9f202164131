package eventhubs

import "errors"

// Errors the head turns into AMQP errors; Condition says which.
var (
	// ErrNotFound: an unknown entity, consumer group or partition.
	ErrNotFound = errors.New("not found")
	// ErrBadFilter: a start filter this endpoint does not understand.
	ErrBadFilter = errors.New("bad filter")
	// ErrBadRequest: a management request that is not a known READ.
	ErrBadRequest = errors.New("bad request")
	// ErrOwnership: an attach refused by the epoch rules.
	ErrOwnership = errors.New("ownership")
	// ErrQuotaExceeded: too many receivers on a partition.
	ErrQuotaExceeded = errors.New("quota exceeded")
)

// AMQP error conditions.
const (
	CondNotFound   = "amqp:not-found"
	CondNotAllowed = "amqp:not-allowed"
	// CondLinkStolen is what Event Hubs detaches a receiver with when a
	// higher epoch takes its partition, and what it refuses an attach with
	// under the epoch rules. azeventhubs (IsOwnershipLostError) and
	// azure-eventhub (check_link_stolen) recognise only this condition as
	// ownership lost; the older com.microsoft:receiver-disconnected
	// (ReceiverDisconnectedException in the retired SDKs) is not.
	CondLinkStolen = "amqp:link:stolen"
	// CondResourceLimitExceeded is Event Hubs' quota error; azeventhubs
	// treats it as final, so a client does not retry the attach in a loop.
	CondResourceLimitExceeded = "amqp:resource-limit-exceeded"
	CondInternalError         = "amqp:internal-error"
)

// Condition is the AMQP error condition for an error of this package.
func Condition(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return CondNotFound
	case errors.Is(err, ErrBadFilter), errors.Is(err, ErrBadRequest):
		// Final for the clients: a filter they built wrongly will not
		// improve with retries.
		return CondNotAllowed
	case errors.Is(err, ErrOwnership):
		return CondLinkStolen
	case errors.Is(err, ErrQuotaExceeded):
		return CondResourceLimitExceeded
	}
	return CondInternalError
}

// StatusCode is the $management status-code for an error of this package.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrNotFound):
		return 404
	case errors.Is(err, ErrBadRequest):
		return 400
	}
	return 500
}
