// Package emulator is an in-memory emulator of Cloudflare's account-owned API
// token endpoints (/client/v4/accounts/{account_id}/tokens...), for tests, CI,
// demos and users who cannot reach Cloudflare.
//
// It follows the published API, not any one client. It checks bearer tokens,
// permission groups, resources and request_ip conditions, and validates
// bodies. It pages lists, computes statuses from an injected clock and
// rate-limits each bearer token. Like the real API, it returns policies and
// permission groups in an order other than the one they were sent in (sorted
// by id). It does not import the project's client
// package, so it stays an independent check of that client.
//
// Tests control it from Go: seed accounts and tokens (AddAccount, AddToken,
// AddManagementToken, LoadSeed), read the state back (Token, Tokens,
// Requests), and inject faults per endpoint (InjectFault): canned replies with
// any status and body, HTTP 200 with success:false, latency, and replies lost
// after the change was committed.
//
// Choices the public API reference leaves open:
//   - An unknown or malformed token id in the path is HTTP 404 with code 7003
//     ("Could not route to ..., perhaps your object identifier is invalid?")
//     followed by code 7000 ("No route for that URI").
//   - Verify answers HTTP 200 with status "disabled" or "expired" for a
//     disabled or expired token, and with status "active" and not_before for
//     a token that is not valid yet; every other endpoint rejects such a
//     token with 401 code 1000. Options.StrictVerify makes verify reject them
//     too.
//   - Update replaces the definition: optional fields left out of the body
//     (condition, expires_on, not_before) are cleared. A status left out keeps
//     the current status. Policy ids sent on update are ignored and replaced.
//   - Lists are sorted by issued_on, then id; direction=desc reverses that.
//   - Roll accepts an empty body as well as {}.
//   - Validation codes other than 1001 are the emulator's own: 1002 for an
//     invalid or missing field, 1003 for an unknown permission group, 1004
//     for an invalid query parameter, 1005 for the 500-token quota, 6007 for
//     a body that is not JSON. Each names the field in source.pointer.
//
// Timestamps the emulator sets (issued_on, modified_on, last_used_on) are whole
// seconds. When a change falls in the same second as the previous one,
// modified_on moves one second past it, so that every change shows in
// modified_on.
//
// Token values are "cfat_", 40 characters from [A-Za-z0-9], and a checksum:
// the CRC-32 (IEEE) of those 40 characters as 8 lowercase hex digits, 53
// characters in all.
//
// Besides the basic fault and option fields, Fault.AfterCommit performs the
// operation and then sends the canned reply, and Options.StrictVerify is
// described above. Request also carries Query, Fault and Dropped.
package emulator
