package vaulttest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// TokenSpec describes a token the server issues.
type TokenSpec struct {
	// Rules are the token's policy. The root token ignores them.
	Rules []Rule
	// Policies are the policy names reported in auth replies. Default:
	// ["default"].
	Policies []string
	// TTL is the token lifetime on the server clock; zero never expires.
	TTL time.Duration
	// Renewable allows auth/token/renew-self.
	Renewable bool
}

// AppRole is a role that auth/<mount>/login accepts with role_id and
// secret_id.
type AppRole struct {
	Name     string
	RoleID   string
	SecretID string
	Token    TokenSpec
}

// KubernetesRole is a role that auth/<mount>/login accepts with role and
// jwt. The server compares the JWT as an opaque string.
type KubernetesRole struct {
	Name  string
	JWT   string
	Token TokenSpec
}

// token is an issued token.
type token struct {
	id        string
	accessor  string
	spec      TokenSpec
	root      bool
	name      string
	issued    time.Time
	expires   time.Time // zero: never
	lastRenew time.Time
}

// CreateToken issues a token and returns its value.
func (s *Server) CreateToken(spec TokenSpec) string {
	return s.addToken(spec, "token")
}

// RevokeToken makes id unknown to the server.
func (s *Server) RevokeToken(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, id)
}

// AddAppRole makes an AppRole role available at auth/<mount>/login.
func (s *Server) AddAppRole(mount string, role AppRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appRoles[mount] == nil {
		s.appRoles[mount] = map[string]AppRole{}
	}
	s.appRoles[mount][role.RoleID] = role
}

// AddKubernetesRole makes a Kubernetes role available at
// auth/<mount>/login.
func (s *Server) AddKubernetesRole(mount string, role KubernetesRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k8sRoles[mount] == nil {
		s.k8sRoles[mount] = map[string]KubernetesRole{}
	}
	s.k8sRoles[mount][role.Name] = role
}

func (s *Server) addToken(spec TokenSpec, name string) string {
	if len(spec.Policies) == 0 {
		spec.Policies = []string{"default"}
	}
	now := s.now()
	t := &token{
		id:       randomID("hvs."),
		accessor: randomID(""),
		spec:     spec,
		root:     slices.Contains(spec.Policies, "root"),
		name:     name,
		issued:   now,
	}
	if spec.TTL > 0 {
		t.expires = now.Add(spec.TTL)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.id] = t
	return t.id
}

// lookupToken returns the live token with id, or nil when it is unknown or
// expired on the server clock. Expired tokens are dropped, as Vault does.
func (s *Server) lookupToken(id string) *token {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[id]
	if t == nil {
		return nil
	}
	if !t.expires.IsZero() && !s.now().Before(t.expires) {
		delete(s.tokens, id)
		return nil
	}
	copied := *t
	return &copied
}

// capabilitiesOf returns what t may do on path.
func (s *Server) capabilitiesOf(t *token, path string) []string {
	if t.root {
		return []string{"root"}
	}
	return capabilities(t.spec.Rules, path)
}

// may reports whether t has capability on path.
func (s *Server) may(t *token, path, capability string) bool {
	return t.root || allows(t.spec.Rules, path, capability)
}

// authReply is the "auth" block of a login or renewal reply.
func (s *Server) authReply(t *token) reply {
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id":     randomID(""),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           nil,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth": map[string]any{
			"client_token":   t.id,
			"accessor":       t.accessor,
			"policies":       t.spec.Policies,
			"token_policies": t.spec.Policies,
			"metadata":       map[string]string{"role_name": t.name},
			"lease_duration": int(t.spec.TTL / time.Second),
			"renewable":      t.spec.Renewable,
			"entity_id":      "",
			"token_type":     "service",
			"orphan":         true,
		},
	}}
}

// login handles auth/<mount>/login for AppRole and Kubernetes mounts.
func (s *Server) login(mount string, c *call) reply {
	if c.operation != "login" || c.method == http.MethodGet {
		return errorReply(http.StatusMethodNotAllowed, "unsupported operation")
	}
	s.mu.Lock()
	appRoles, isAppRole := s.appRoles[mount]
	k8sRoles, isK8s := s.k8sRoles[mount]
	s.mu.Unlock()

	switch {
	case isAppRole:
		roleID, _ := c.data["role_id"].(string)
		secretID, _ := c.data["secret_id"].(string)
		if roleID == "" {
			return errorReply(http.StatusBadRequest, "missing role_id")
		}
		role, ok := appRoles[roleID]
		if !ok || secretID != role.SecretID {
			return errorReply(http.StatusBadRequest, "invalid role or secret ID")
		}
		return s.issue(role.Token, role.Name)
	case isK8s:
		name, _ := c.data["role"].(string)
		jwt, _ := c.data["jwt"].(string)
		if name == "" {
			return errorReply(http.StatusBadRequest, "missing role")
		}
		role, ok := k8sRoles[name]
		if !ok {
			return errorReply(http.StatusBadRequest, "invalid role name \""+name+"\"")
		}
		if jwt == "" || jwt != role.JWT {
			return permissionDenied()
		}
		return s.issue(role.Token, role.Name)
	}
	return errorReply(http.StatusNotFound,
		"no handler for route \""+c.path+"\". route entry not found.")
}

func (s *Server) issue(spec TokenSpec, name string) reply {
	id := s.addToken(spec, name)
	return s.authReply(s.lookupToken(id))
}

// lookupSelf serves auth/token/lookup-self.
func (s *Server) lookupSelf(c *call) reply {
	t := c.token
	var expireTime any
	ttl := 0
	if !t.expires.IsZero() {
		expireTime = t.expires.UTC().Format(time.RFC3339Nano)
		ttl = int(t.expires.Sub(s.now()) / time.Second)
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id":     randomID(""),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
		"data": map[string]any{
			"accessor":         t.accessor,
			"creation_time":    t.issued.Unix(),
			"creation_ttl":     int(t.spec.TTL / time.Second),
			"display_name":     t.name,
			"expire_time":      expireTime,
			"explicit_max_ttl": 0,
			"id":               t.id,
			"issue_time":       t.issued.UTC().Format(time.RFC3339Nano),
			"meta":             nil,
			"num_uses":         0,
			"orphan":           true,
			"path":             "auth/token/create",
			"policies":         t.spec.Policies,
			"renewable":        t.spec.Renewable,
			"ttl":              ttl,
			"type":             "service",
		},
	}}
}

// renewSelf serves auth/token/renew-self. The new lifetime is the
// requested increment, or the token's TTL without one.
// NOTE: Vault also caps renewals at the mount's max TTL; this server does not.
func (s *Server) renewSelf(c *call) reply {
	if c.operation != "update" {
		return errorReply(http.StatusMethodNotAllowed, "unsupported operation")
	}
	if !c.token.spec.Renewable || c.token.spec.TTL == 0 {
		return errorReply(http.StatusBadRequest, "lease is not renewable")
	}

	ttl := c.token.spec.TTL
	if increment := seconds(c.data["increment"]); increment > 0 {
		ttl = increment
	}
	s.mu.Lock()
	t := s.tokens[c.token.id]
	if t == nil {
		s.mu.Unlock()
		return permissionDenied()
	}
	t.lastRenew = s.now()
	t.expires = t.lastRenew.Add(ttl)
	renewed := *t
	s.mu.Unlock()

	renewed.spec.TTL = ttl
	return s.authReply(&renewed)
}

// seconds reads a duration given as a number of seconds or a Go-style
// duration string ("1h").
func seconds(v any) time.Duration {
	switch v := v.(type) {
	case json.Number:
		n, err := v.Int64()
		if err == nil {
			return time.Duration(n) * time.Second
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return time.Duration(n) * time.Second
		}
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return 0
}

// capabilitiesSelf serves sys/capabilities-self with the token's
// capabilities on each requested path, in the shape Vault returns.
func (s *Server) capabilitiesSelf(c *call) reply {
	if c.operation != "update" {
		return errorReply(http.StatusMethodNotAllowed, "unsupported operation")
	}
	var paths []string
	for _, key := range []string{"paths", "path"} {
		switch v := c.data[key].(type) {
		case string:
			paths = append(paths, v)
		case []any:
			for _, p := range v {
				if p, ok := p.(string); ok {
					paths = append(paths, p)
				}
			}
		}
	}
	if len(paths) == 0 {
		return errorReply(http.StatusBadRequest, "missing paths")
	}

	data := map[string]any{}
	var first []string
	for i, p := range paths {
		caps := s.capabilitiesOf(c.token, p)
		if len(caps) == 0 {
			caps = []string{"deny"}
		}
		if s.isDenied(p) {
			caps = []string{"deny"}
		}
		data[p] = caps
		if i == 0 {
			first = caps
		}
	}
	if len(paths) == 1 {
		data["capabilities"] = first
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id": randomID(""), "lease_id": "", "renewable": false,
		"lease_duration": 0, "data": data, "wrap_info": nil, "warnings": nil,
		"auth": nil,
	}}
}
