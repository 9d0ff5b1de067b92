package metrics

// The label values below are fixed sets, so that the number of series stays
// bounded whatever the daemon meets. Methods that take one of these types
// ignore a value outside its set instead of exporting it.

// Decision is the value of the decision label of tokenrotator_token_decision.
type Decision string

// The decisions the policy engine can reach for one managed token.
const (
	DecisionOK             Decision = "ok"
	DecisionRotate         Decision = "rotate"
	DecisionExtendThenRoll Decision = "extend_then_roll"
	DecisionIdleReport     Decision = "idle_report"
	DecisionIdleDisable    Decision = "idle_disable"
	DecisionError          Decision = "error"
)

var decisions = []Decision{
	DecisionOK, DecisionRotate, DecisionExtendThenRoll,
	DecisionIdleReport, DecisionIdleDisable, DecisionError,
}

// ErrorReason is the value of the reason label of tokenrotator_token_error.
type ErrorReason string

// The reasons a managed token can be in error.
const (
	ReasonNotFound       ErrorReason = "not_found"
	ReasonAmbiguous      ErrorReason = "ambiguous"
	ReasonDisabled       ErrorReason = "disabled"
	ReasonUnusableStatus ErrorReason = "unusable_status"
	ReasonBadTimestamp   ErrorReason = "bad_timestamp"
	ReasonAPIError       ErrorReason = "api_error"
	ReasonSinkError      ErrorReason = "sink_error"
	ReasonUnsavedSecret  ErrorReason = "unsaved_secret"
	ReasonPolicyError    ErrorReason = "policy_error"
)

var errorReasons = []ErrorReason{
	ReasonNotFound, ReasonAmbiguous, ReasonDisabled, ReasonUnusableStatus,
	ReasonBadTimestamp, ReasonAPIError, ReasonSinkError, ReasonUnsavedSecret, ReasonPolicyError,
}

// RotationResult is the value of the result label of tokenrotator_rotations_total.
type RotationResult string

// The outcomes of one rotation.
const (
	// RotationSuccess means every sink stores the new value and nothing is owed.
	RotationSuccess RotationResult = "success"
	// RotationFailed means no new value was issued, or it was issued and then revoked.
	RotationFailed RotationResult = "failed"
	// RotationNotStored means a new value exists but at least one sink lacks it,
	// so the value waits in the journal.
	RotationNotStored RotationResult = "rotated_not_stored"
	// RotationOldTokenStillLive means the new token is stored but deleting the
	// old token failed, so the deletion stays pending.
	RotationOldTokenStillLive RotationResult = "old_token_still_live"
)

var rotationResults = []RotationResult{
	RotationSuccess, RotationFailed, RotationNotStored, RotationOldTokenStillLive,
}

// Endpoint is the value of the endpoint label of the API request metrics.
type Endpoint string

// The eight operations of the Cloudflare account tokens API.
const (
	EndpointCreate           Endpoint = "create"
	EndpointList             Endpoint = "list"
	EndpointPermissionGroups Endpoint = "permission_groups"
	EndpointVerify           Endpoint = "verify"
	EndpointUpdate           Endpoint = "update"
	EndpointDetails          Endpoint = "details"
	EndpointDelete           Endpoint = "delete"
	EndpointRoll             Endpoint = "roll"
)

var endpoints = []Endpoint{
	EndpointCreate, EndpointList, EndpointPermissionGroups, EndpointVerify,
	EndpointUpdate, EndpointDetails, EndpointDelete, EndpointRoll,
}

// RetryReason is the value of the reason label of tokenrotator_api_retries_total.
type RetryReason string

// The reasons the API client retries a request.
const (
	RetryRateLimited RetryReason = "rate_limited"
	RetryServerError RetryReason = "server_error"
	RetryTransport   RetryReason = "transport"
)

var retryReasons = []RetryReason{RetryRateLimited, RetryServerError, RetryTransport}

// SinkResult is the value of the result label of tokenrotator_sink_writes_total.
type SinkResult string

// The outcomes of one write to a sink.
const (
	SinkSuccess SinkResult = "success"
	// SinkFailed covers transport errors, sealed or unavailable servers and
	// any other failure that is not one of the two below.
	SinkFailed SinkResult = "failed"
	// SinkConflict means a check-and-set write found a newer version.
	SinkConflict SinkResult = "conflict"
	// SinkDenied means the sink rejected the write for lack of permission.
	SinkDenied SinkResult = "denied"
)

var sinkResults = []SinkResult{SinkSuccess, SinkFailed, SinkConflict, SinkDenied}

// codeTransportError is the code label of a request that got no HTTP response.
const codeTransportError = "error"
