// Package rotator decides which managed tokens are due and rotates them
// without losing a secret or leaving a stray token alive.
//
// The decision engine (Decide) is a pure function of the policy, the live
// token state, the daemon's own records and the clock. The strategies carry
// out its decisions, and the Journal records, durably and before each risky
// step, every value not yet stored, every old token still to delete and
// every mutation whose outcome is not yet known.
package rotator
