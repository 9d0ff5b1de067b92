package app

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/metrics"
	"github.com/tokenrotator/tokenrotator/rotator"
	"github.com/tokenrotator/tokenrotator/tokenapi"
)

func TestTokenSeries(t *testing.T) {
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	expires := at.Add(48 * time.Hour)
	newExpiry := at.Add(90 * 24 * time.Hour)
	policy := &rotator.Policy{Account: "prod", Key: "dns", RenewBefore: 7 * 24 * time.Hour}
	old := &tokenapi.Token{ID: "old", ExpiresOn: tokenapi.NewTimestamp(expires)}
	created := &tokenapi.Token{ID: "new", ExpiresOn: tokenapi.NewTimestamp(newExpiry)}
	decision := rotator.Decision{Policy: policy, Token: old, Action: rotator.ActionRotate,
		LastRotated: at.Add(-100 * 24 * time.Hour), NextDue: at}

	tests := []struct {
		name       string
		report     rotator.TokenReport
		tokenID    string
		decision   metrics.Decision
		reason     metrics.ErrorReason
		expiry     time.Time
		lastRotate time.Time
		nextDue    time.Time
	}{
		{
			name:    "plan of a due token",
			report:  rotator.TokenReport{Decision: decision},
			tokenID: "old", decision: metrics.DecisionRotate, expiry: expires,
			lastRotate: at.Add(-100 * 24 * time.Hour), nextDue: at,
		},
		{
			name: "recreate succeeded",
			report: rotator.TokenReport{Decision: decision, Result: rotator.ResultSuccess,
				NewTokenID: "new", After: created, RotatedAt: at},
			tokenID: "new", decision: metrics.DecisionOK, expiry: newExpiry, lastRotate: at,
		},
		{
			name: "value not stored",
			report: rotator.TokenReport{Decision: decision, Result: rotator.ResultNotStored,
				After: old, RotatedAt: at},
			tokenID: "old", decision: metrics.DecisionError, reason: metrics.ReasonUnsavedSecret,
			expiry: expires, lastRotate: at,
		},
		{
			name: "sink pre-flight failed",
			report: rotator.TokenReport{Decision: decision, Result: rotator.ResultFailed,
				ErrKind: rotator.ErrSink, Err: errors.New("denied")},
			tokenID: "old", decision: metrics.DecisionError, reason: metrics.ReasonSinkError,
			expiry: expires, lastRotate: at.Add(-100 * 24 * time.Hour), nextDue: at,
		},
		{
			name: "token not found",
			report: rotator.TokenReport{Decision: rotator.Decision{Policy: policy,
				Action: rotator.ActionError, ErrKind: rotator.ErrNotFound, Err: errors.New("gone")}},
			decision: metrics.DecisionError, reason: metrics.ReasonNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels, state := tokenSeries(tt.report)
			if labels.Account != "prod" || labels.Token != "dns" {
				t.Errorf("labels = %+v", labels)
			}
			if labels.TokenID != tt.tokenID {
				t.Errorf("token_id = %q, want %q", labels.TokenID, tt.tokenID)
			}
			if state.Decision != tt.decision {
				t.Errorf("decision = %q, want %q", state.Decision, tt.decision)
			}
			if state.ErrorReason != tt.reason {
				t.Errorf("error reason = %q, want %q", state.ErrorReason, tt.reason)
			}
			if !state.Expiry.Equal(tt.expiry) {
				t.Errorf("expiry = %v, want %v", state.Expiry, tt.expiry)
			}
			if !state.LastRotation.Equal(tt.lastRotate) {
				t.Errorf("last rotation = %v, want %v", state.LastRotation, tt.lastRotate)
			}
			if !state.NextDue.Equal(tt.nextDue) {
				t.Errorf("next due = %v, want %v", state.NextDue, tt.nextDue)
			}
		})
	}
}
