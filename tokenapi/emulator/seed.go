package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"
)

// seedFile is the YAML or JSON seed format; docs/EMULATOR.md describes it.
type seedFile struct {
	PermissionGroups []seedGroup   `yaml:"permission_groups"`
	Accounts         []seedAccount `yaml:"accounts"`
}

type seedGroup struct {
	ID     string   `yaml:"id"`
	Name   string   `yaml:"name"`
	Scopes []string `yaml:"scopes"`
}

type seedAccount struct {
	ID     string      `yaml:"id"`
	Tokens []seedToken `yaml:"tokens"`
}

type seedToken struct {
	ID         string         `yaml:"id"`
	Name       string         `yaml:"name"`
	Value      string         `yaml:"value"`
	Status     string         `yaml:"status"`
	IssuedOn   string         `yaml:"issued_on"`
	ModifiedOn string         `yaml:"modified_on"`
	LastUsedOn string         `yaml:"last_used_on"`
	ExpiresOn  string         `yaml:"expires_on"`
	NotBefore  string         `yaml:"not_before"`
	Policies   []seedPolicy   `yaml:"policies"`
	Condition  *seedCondition `yaml:"condition"`
}

type seedPolicy struct {
	Effect           string         `yaml:"effect"`
	PermissionGroups []seedGroupRef `yaml:"permission_groups"`
	Resources        map[string]any `yaml:"resources"`
}

type seedGroupRef struct {
	ID   string    `yaml:"id"`
	Name string    `yaml:"name"`
	Meta *seedMeta `yaml:"meta"`
}

type seedMeta struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

type seedCondition struct {
	RequestIP struct {
		In    []string `yaml:"in"`
		NotIn []string `yaml:"not_in"`
	} `yaml:"request_ip"`
}

// LoadSeed adds the permission groups, accounts and tokens of a YAML or JSON
// seed document. Unknown fields are errors. Entries before a failing one
// stay added.
func (e *Emulator) LoadSeed(data []byte) error {
	var seed seedFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&seed); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("load seed: %w", err)
	}

	for i, g := range seed.PermissionGroups {
		err := e.AddPermissionGroup(PermissionGroup{ID: g.ID, Name: g.Name, Scopes: g.Scopes})
		if err != nil {
			return fmt.Errorf("load seed: permission_groups[%d]: %w", i, err)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()

	for i, a := range seed.Accounts {
		accountID, err := e.addAccountLocked(a.ID)
		if err != nil {
			return fmt.Errorf("load seed: accounts[%d]: %w", i, err)
		}
		for j, st := range a.Tokens {
			spec, err := st.spec()
			if err == nil {
				_, err = e.addTokenLocked(accountID, spec)
			}
			if err != nil {
				return fmt.Errorf("load seed: accounts[%d].tokens[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// spec converts a seed token to a TokenSpec.
func (st seedToken) spec() (TokenSpec, error) {
	spec := TokenSpec{ID: st.ID, Name: st.Name, Value: st.Value, Status: st.Status}
	times := []struct {
		field string
		text  string
		dest  *time.Time
	}{
		{"issued_on", st.IssuedOn, &spec.IssuedOn},
		{"modified_on", st.ModifiedOn, &spec.ModifiedOn},
		{"last_used_on", st.LastUsedOn, &spec.LastUsedOn},
		{"expires_on", st.ExpiresOn, &spec.ExpiresOn},
		{"not_before", st.NotBefore, &spec.NotBefore},
	}
	for _, ts := range times {
		if ts.text == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339Nano, ts.text)
		if err != nil {
			return TokenSpec{}, fmt.Errorf("%s %q is not an RFC 3339 timestamp", ts.field, ts.text)
		}
		*ts.dest = parsed.UTC()
	}
	for _, sp := range st.Policies {
		p := Policy{Effect: sp.Effect, Resources: sp.Resources}
		for _, ref := range sp.PermissionGroups {
			g := PermissionGroupRef{ID: ref.ID, Name: ref.Name}
			if ref.Meta != nil {
				g.Meta = &Meta{Key: ref.Meta.Key, Value: ref.Meta.Value}
			}
			p.PermissionGroups = append(p.PermissionGroups, g)
		}
		spec.Policies = append(spec.Policies, p)
	}
	if st.Condition != nil {
		spec.Condition = &Condition{
			RequestIPIn:    st.Condition.RequestIP.In,
			RequestIPNotIn: st.Condition.RequestIP.NotIn,
		}
	}
	return spec, nil
}
