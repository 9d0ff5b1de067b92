// Package emulatortest starts the Cloudflare token API emulator on a loopback
// port for tests.
package emulatortest

import (
	"net/http/httptest"
	"testing"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

// Env is a running emulator with one account and one management token.
type Env struct {
	// Emulator is the emulator behind the server, for seeding, faults and
	// assertions.
	Emulator *emulator.Emulator
	// BaseURL is the API base, such as http://127.0.0.1:PORT/client/v4.
	BaseURL string
	// AccountID is the id of the account the management token belongs to.
	AccountID string
	// Token is the management token's value; it holds Account API Tokens
	// Write on the account.
	Token string
	// TokenID is the management token's id.
	TokenID string
}

// Start serves a new emulator on 127.0.0.1 with one account and a management
// token, and stops the server when the test ends.
func Start(tb testing.TB, opts emulator.Options) *Env {
	tb.Helper()
	emu := emulator.New(opts)
	accountID, err := emu.AddAccount("")
	if err != nil {
		tb.Fatalf("emulatortest: %v", err)
	}
	issued, err := emu.AddManagementToken(accountID, "tokenrotator management", true)
	if err != nil {
		tb.Fatalf("emulatortest: %v", err)
	}
	// httptest.NewServer listens on 127.0.0.1, or on [::1] when the machine
	// has no IPv4 loopback.
	srv := httptest.NewServer(emu.Handler())
	tb.Cleanup(srv.Close)
	return &Env{
		Emulator:  emu,
		BaseURL:   srv.URL + "/client/v4",
		AccountID: accountID,
		Token:     issued.Value,
		TokenID:   issued.ID,
	}
}
