package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/accounts"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/shared"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator/emulatortest"
)

// sdkClient returns Cloudflare's official Go SDK pointed at the emulator
// with bearer token, and no retries so each call is one request.
func sdkClient(env *emulatortest.Env, token string) *cloudflare.Client {
	return cloudflare.NewClient(
		option.WithBaseURL(env.BaseURL+"/"),
		option.WithAPIToken(token),
		option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
	)
}

// TestOfficialSDKWorksUnchanged runs the whole token lifecycle through
// cloudflare-go v6 with only its base URL changed.
func TestOfficialSDKWorksUnchanged(t *testing.T) {
	env := emulatortest.Start(t, emulator.Options{})
	client := sdkClient(env, env.Token)
	ctx := context.Background()
	account := cloudflare.F(env.AccountID)

	created, err := client.Accounts.Tokens.New(ctx, accounts.TokenNewParams{
		AccountID: account,
		Name:      cloudflare.F("sdk-dns"),
		Policies: cloudflare.F([]shared.TokenPolicyParam{{
			Effect: cloudflare.F(shared.TokenPolicyEffectAllow),
			PermissionGroups: cloudflare.F([]shared.TokenPolicyPermissionGroupParam{{
				ID: cloudflare.F("82e64a83756745bbbb1c9c2701bf816b"),
			}}),
			Resources: cloudflare.F[shared.TokenPolicyResourcesUnionParam](
				shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam(map[string]string{
					"com.cloudflare.api.account." + env.AccountID: "*",
				})),
		}}),
		ExpiresOn: cloudflare.F(time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)),
	})
	if err != nil {
		t.Fatalf("create through the SDK: %v", err)
	}
	if created.ID == "" || created.Value == "" {
		t.Fatalf("create reply lacks id or value: id %q", created.ID)
	}
	oldValue := created.Value

	found := false
	pager := client.Accounts.Tokens.ListAutoPaging(ctx, accounts.TokenListParams{AccountID: account})
	for pager.Next() {
		if pager.Current().ID == created.ID {
			found = true
		}
	}
	if err := pager.Err(); err != nil {
		t.Fatalf("list through the SDK: %v", err)
	}
	if !found {
		t.Error("the SDK's auto-pager did not return the created token")
	}

	got, err := client.Accounts.Tokens.Get(ctx, created.ID, accounts.TokenGetParams{AccountID: account})
	if err != nil {
		t.Fatalf("get through the SDK: %v", err)
	}
	if got.Name != "sdk-dns" || len(got.Policies) != 1 {
		t.Errorf("get returned name %q with %d policies", got.Name, len(got.Policies))
	}

	rolled, err := client.Accounts.Tokens.Value.Update(ctx, created.ID,
		accounts.TokenValueUpdateParams{AccountID: account, Body: map[string]any{}})
	if err != nil {
		t.Fatalf("roll through the SDK: %v", err)
	}
	if rolled == nil || *rolled == "" || *rolled == oldValue {
		t.Fatal("roll returned no new value")
	}

	verified, err := sdkClient(env, *rolled).Accounts.Tokens.Verify(ctx,
		accounts.TokenVerifyParams{AccountID: account})
	if err != nil {
		t.Fatalf("verify of the new value through the SDK: %v", err)
	}
	if verified.ID != created.ID || verified.Status != accounts.TokenVerifyResponseStatusActive {
		t.Errorf("verify returned id %q status %q", verified.ID, verified.Status)
	}
	_, err = sdkClient(env, oldValue).Accounts.Tokens.Verify(ctx,
		accounts.TokenVerifyParams{AccountID: account})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("verify of the rolled-away value: error %v, want HTTP 401", err)
	}

	groups, err := client.Accounts.Tokens.PermissionGroups.List(ctx,
		accounts.TokenPermissionGroupListParams{AccountID: account})
	if err != nil {
		t.Fatalf("permission groups through the SDK: %v", err)
	}
	if len(groups.Result) == 0 {
		t.Error("permission groups list is empty")
	}

	deleted, err := client.Accounts.Tokens.Delete(ctx, created.ID, accounts.TokenDeleteParams{AccountID: account})
	if err != nil {
		t.Fatalf("delete through the SDK: %v", err)
	}
	if deleted.ID != created.ID {
		t.Errorf("delete returned id %q, want %q", deleted.ID, created.ID)
	}
	_, err = client.Accounts.Tokens.Get(ctx, created.ID, accounts.TokenGetParams{AccountID: account})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: error %v, want HTTP 404", err)
	}
}
