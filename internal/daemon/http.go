package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenrotator/tokenrotator/rotator"
)

// maxAdminBodyBytes bounds the body of an on-demand rotation request.
const maxAdminBodyBytes = 4 << 10

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := d.readiness(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ready")
	})
	mux.HandleFunc("POST /v1/rotate/{token...}", d.handleRotate)
	return mux
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, text)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// rotateReply is the body of an on-demand rotation reply. It carries no
// secret: only ids, the decision and the result.
type rotateReply struct {
	Account    string   `json:"account,omitempty"`
	Token      string   `json:"token,omitempty"`
	TokenID    string   `json:"token_id,omitempty"`
	NewTokenID string   `json:"new_token_id,omitempty"`
	Decision   string   `json:"decision,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	Result     string   `json:"result,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// handleRotate rotates one token on request: POST /v1/rotate/{token} with
// "Authorization: Bearer <admin token>", where {token} is the name or id in
// the policy or ACCOUNT/NAME. ?force=true rotates a token that is not due.
// It is off unless the policy sets admin_token.
func (d *Daemon) handleRotate(w http.ResponseWriter, r *http.Request) {
	admin := d.current().AdminToken
	if admin.IsZero() {
		writeJSON(w, http.StatusNotFound, rotateReply{
			Error: "on-demand rotation is off; set admin_token in the policy to enable it"})
		return
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(given), []byte(admin.Reveal())) != 1 {
		d.log.Warn("on-demand rotation rejected: missing or wrong admin token",
			"remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenrotator"`)
		writeJSON(w, http.StatusUnauthorized, rotateReply{Error: "missing or invalid admin token"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBodyBytes)

	key := r.PathValue("token")
	force := r.URL.Query().Get("force") == "true"
	d.log.Info("on-demand rotation requested", "token", key, "force", force, "remote", r.RemoteAddr)
	rep, err := d.rotateNow(r.Context(), key, force)
	if errors.Is(err, rotator.ErrUnknownToken) {
		writeJSON(w, http.StatusNotFound, rotateReply{Token: key, Error: err.Error()})
		return
	}
	if errors.Is(err, rotator.ErrAmbiguousToken) {
		writeJSON(w, http.StatusConflict, rotateReply{Token: key, Error: err.Error()})
		return
	}
	if err != nil {
		d.log.Error("on-demand rotation failed", "token", key, "err", err)
		writeJSON(w, http.StatusInternalServerError, rotateReply{Token: key, Error: err.Error()})
		return
	}

	replies := make([]rotateReply, 0, len(rep.Tokens))
	status := http.StatusOK
	for _, t := range rep.Tokens {
		reply := rotateReply{Account: t.Decision.Policy.Account, Token: t.Decision.Policy.Key,
			NewTokenID: t.NewTokenID, Decision: string(t.Decision.Action), Result: string(t.Result)}
		if t.Decision.Token != nil {
			reply.TokenID = t.Decision.Token.ID
		}
		for _, reason := range t.Decision.Reasons {
			reply.Reasons = append(reply.Reasons, string(reason))
		}
		if err := firstErr(t.Decision.Err, t.Err); err != nil {
			reply.Error = err.Error()
			status = http.StatusBadGateway
		}
		replies = append(replies, reply)
	}
	writeJSON(w, status, replies)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
