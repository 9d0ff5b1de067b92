package emulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

const seedAccount = "0123456789abcdef0123456789abcdef"

const seedYAML = `
permission_groups:
  - id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    name: Workers Scripts Write
    scopes: [com.cloudflare.api.account]
accounts:
  - id: 0123456789abcdef0123456789abcdef
    tokens:
      - id: 11111111111111111111111111111111
        name: management
        value: fixed-management-value-0123456789abcdefghijkl
        policies:
          - permission_groups: [{name: Account API Tokens Write}]
      - name: dns
        issued_on: 2026-01-01T00:00:00Z
        last_used_on: "2026-02-01T00:00:00.5Z"
        expires_on: 2026-12-31T00:00:00Z
        policies:
          - effect: allow
            permission_groups:
              - id: 4755a26eedb94da69e1066d98aa820be
              - id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            resources:
              com.cloudflare.api.account.0123456789abcdef0123456789abcdef:
                com.cloudflare.api.account.zone.*: "*"
        condition:
          request_ip:
            in: [10.0.0.0/8, "2001:db8::/32"]
  - tokens: []
`

func TestLoadSeedYAML(t *testing.T) {
	env, _ := startWithClock(t)
	if err := env.Emulator.LoadSeed([]byte(seedYAML)); err != nil {
		t.Fatal(err)
	}

	accounts := env.Emulator.Accounts()
	if len(accounts) != 3 || accounts[1] != seedAccount {
		t.Fatalf("accounts = %v, want the env account, the seed account, a generated one", accounts)
	}
	mgmt, ok := env.Emulator.Token(seedAccount, "11111111111111111111111111111111")
	if !ok {
		t.Fatal("seeded management token missing")
	}
	if mgmt.Value != "fixed-management-value-0123456789abcdefghijkl" {
		t.Errorf("fixed value not kept: %q", mgmt.Value)
	}

	tokens := env.Emulator.Tokens(seedAccount)
	if len(tokens) != 2 {
		t.Fatalf("seed account holds %d tokens, want 2", len(tokens))
	}
	dns := tokens[0]
	if dns.Name != "dns" {
		t.Fatalf("first token by issued_on = %q, want dns", dns.Name)
	}
	if !dns.ExpiresOn.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expires_on = %v", dns.ExpiresOn)
	}
	if !dns.LastUsedOn.Equal(time.Date(2026, 2, 1, 0, 0, 0, 5e8, time.UTC)) {
		t.Errorf("last_used_on = %v", dns.LastUsedOn)
	}
	if dns.Condition == nil || len(dns.Condition.RequestIPIn) != 2 {
		t.Errorf("condition = %+v, want two CIDRs", dns.Condition)
	}
	names := map[string]bool{}
	for _, g := range dns.Policies[0].PermissionGroups {
		names[g.Name] = true
	}
	if !names["DNS Write"] || !names["Workers Scripts Write"] {
		t.Errorf("group names = %v, want DNS Write and the seeded group", names)
	}

	rep := send(t, env, http.MethodGet, "/accounts/"+seedAccount+"/tokens", mgmt.Value, "")
	wantOK(t, rep)
	if rep.ResultInfo == nil || rep.ResultInfo.TotalCount != 2 {
		t.Errorf("list through the seeded management token = %s", rep.Raw)
	}
}

func TestLoadSeedJSON(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	seed := `{"accounts":[{"id":"` + seedAccount + `","tokens":[{"name":"ci",` +
		`"expires_on":"2030-01-01T00:00:00Z",` +
		`"policies":[{"permission_groups":[{"id":"c8fed203ed3043cba015a93ad1616f1f"}]}]}]}]}`
	if err := emu.LoadSeed([]byte(seed)); err != nil {
		t.Fatal(err)
	}
	tokens := emu.Tokens(seedAccount)
	if len(tokens) != 1 || tokens[0].Name != "ci" || !emulator.ValidChecksum(tokens[0].Value) {
		t.Fatalf("tokens = %+v, want one token named ci with a generated value", tokens)
	}
	res := tokens[0].Policies[0].Resources
	if res["com.cloudflare.api.account."+seedAccount] != "*" {
		t.Errorf("default resources = %v, want the seed account", res)
	}
}

func TestLoadSeedErrors(t *testing.T) {
	cases := map[string]struct {
		seed string
		want string
	}{
		"unknown field":  {"accounts:\n  - idd: x\n", "field idd not found"},
		"bad account id": {"accounts:\n  - id: XYZ\n", "accounts[0]"},
		"unknown group": {"accounts:\n  - tokens:\n      - name: a\n        policies:\n" +
			"          - permission_groups: [{id: ffffffffffffffffffffffffffffffff}]\n",
			"accounts[0].tokens[0]"},
		"short value": {"accounts:\n  - tokens:\n      - name: a\n        value: short\n" +
			"        policies:\n          - permission_groups: [{name: Zone Read}]\n",
			"40 to 80"},
		"bad timestamp": {"accounts:\n  - tokens:\n      - name: a\n        expires_on: soon\n" +
			"        policies:\n          - permission_groups: [{name: Zone Read}]\n",
			"expires_on"},
		"no policies":  {"accounts:\n  - tokens:\n      - name: a\n", "policies are empty"},
		"bad group id": {"permission_groups:\n  - id: 12\n    name: x\n", "permission_groups[0]"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := emulator.New(emulator.Options{}).LoadSeed([]byte(tc.seed))
			if err == nil {
				t.Fatal("LoadSeed accepted an invalid seed")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadSeedEmpty(t *testing.T) {
	if err := emulator.New(emulator.Options{}).LoadSeed(nil); err != nil {
		t.Errorf("empty seed: %v", err)
	}
}
