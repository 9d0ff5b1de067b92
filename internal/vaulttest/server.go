// Package vaulttest runs an in-process HashiCorp Vault HTTP server for
// tests. It speaks Vault's wire format on a loopback httptest server and
// stores secrets in the real KV engine (the vault-plugin-secrets-kv
// backend on vault/sdk in-memory storage), so clients built on
// github.com/hashicorp/vault/api work against it unchanged.
//
// It serves KV v1 and v2 mounts at any path, token auth with per-token
// policies, AppRole and Kubernetes logins, token lookup and renewal,
// sys/capabilities-self, mount discovery and sys/health. Faults cover a
// sealed server, denied paths, forced statuses, latency, failing writes and
// tokens that expire on an injected clock.
package vaulttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// maxBodyBytes is the largest request body the server reads.
const maxBodyBytes = 1 << 20

// Options configures a test server.
type Options struct {
	// Now is the server clock: token expiry follows it. Default: time.Now.
	Now func() time.Time

	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1 and
	// example.com. CAFile returns the path of that certificate in PEM form.
	TLS bool
}

// Request is one entry of the request log.
type Request struct {
	Method    string
	Path      string // API path without "/v1/" and without the namespace
	Namespace string // the X-Vault-Namespace header, slashes trimmed
	Operation string // read, list, create, update, delete or login
	Status    int
	// TokenAccessor is the accessor of the token the request carried, or ""
	// when it carried none or an unknown one.
	TokenAccessor string
	// Data is the decoded JSON body. It contains the values a client wrote,
	// so tests must not print it where secrets matter.
	Data map[string]any
}

// Server is a running Vault test server. All methods are safe for
// concurrent use.
type Server struct {
	tb     testing.TB
	http   *httptest.Server
	now    func() time.Time
	caFile string
	root   string

	mu       sync.Mutex
	mounts   map[string]*kvMount
	tokens   map[string]*token
	appRoles map[string]map[string]AppRole
	k8sRoles map[string]map[string]KubernetesRole
	faults   faults
	log      []Request
}

// Start starts a server on 127.0.0.1 and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()

	s := &Server{
		tb:       tb,
		now:      opts.Now,
		mounts:   map[string]*kvMount{},
		tokens:   map[string]*token{},
		appRoles: map[string]map[string]AppRole{},
		k8sRoles: map[string]map[string]KubernetesRole{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.root = s.addToken(TokenSpec{Policies: []string{"root"}}, "root")

	s.http = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if opts.TLS {
		s.http.StartTLS()
		s.caFile = filepath.Join(tb.TempDir(), "vault-ca.pem")
		block := &pem.Block{Type: "CERTIFICATE", Bytes: s.http.Certificate().Raw}
		if err := os.WriteFile(s.caFile, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatalf("vaulttest: write CA file %s: %v", s.caFile, err)
		}
	} else {
		s.http.Start()
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server. Start registers it as test cleanup.
func (s *Server) Close() {
	s.http.Close()
}

// URL returns the base address, for example "http://127.0.0.1:41234".
func (s *Server) URL() string {
	return s.http.URL
}

// CAFile returns the path of the PEM certificate a client must trust when
// the server runs with TLS, or "" without TLS.
func (s *Server) CAFile() string {
	return s.caFile
}

// RootToken returns a token that may do everything and never expires.
func (s *Server) RootToken() string {
	return s.root
}

// Client returns a vault/api client for the server that sends token. It
// trusts the server's certificate, does not retry and ignores VAULT_*
// environment variables that would change where it connects.
func (s *Server) Client(tb testing.TB, token string) *api.Client {
	tb.Helper()

	config := api.DefaultConfig()
	config.Address = s.URL()
	config.AgentAddress = ""
	config.MaxRetries = 0
	if s.caFile != "" {
		if err := config.ConfigureTLS(&api.TLSConfig{CACert: s.caFile}); err != nil {
			tb.Fatalf("vaulttest: configure TLS: %v", err)
		}
	}
	client, err := api.NewClient(config)
	if err != nil {
		tb.Fatalf("vaulttest: create client: %v", err)
	}
	client.ClearNamespace()
	client.SetToken(token)
	return client
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// reply is a status and a JSON body (nil for no body).
type reply struct {
	status int
	body   any
}

// errorReply builds Vault's error shape: {"errors": [messages...]}.
func errorReply(status int, messages ...string) reply {
	if messages == nil {
		messages = []string{}
	}
	return reply{status: status, body: map[string]any{"errors": messages}}
}

// permissionDenied is the reply Vault gives for a missing, expired or
// insufficient token.
func permissionDenied() reply {
	return errorReply(http.StatusForbidden, "permission denied")
}

// call is one decoded request on its way through the handlers.
type call struct {
	method    string
	path      string // namespace-relative API path
	fullPath  string // path with the namespace in front
	namespace string
	operation string
	query     url.Values
	data      map[string]any
	token     *token
	remote    string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c, rep := s.decode(r)
	if rep.status == 0 {
		rep = s.route(r, c)
	}

	accessor := ""
	if c.token != nil {
		accessor = c.token.accessor
	}
	s.mu.Lock()
	s.log = append(s.log, Request{
		Method: c.method, Path: c.path, Namespace: c.namespace, Operation: c.operation,
		Status: rep.status, TokenAccessor: accessor, Data: c.data,
	})
	s.mu.Unlock()

	write(w, rep)
}

// write sends rep. A body of type json.RawMessage is sent as is.
func write(w http.ResponseWriter, rep reply) {
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	body, ok := rep.body.(json.RawMessage)
	if !ok {
		var err error
		body, err = json.Marshal(rep.body)
		if err != nil {
			rep.status = http.StatusInternalServerError
			body = []byte(`{"errors":["vaulttest: encode reply failed"]}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// decode reads the method, path, namespace, token and JSON body of r.
func (s *Server) decode(r *http.Request) (*call, reply) {
	c := &call{
		method:    r.Method,
		namespace: strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"),
		query:     r.URL.Query(),
		remote:    r.RemoteAddr,
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		return c, errorReply(http.StatusNotFound, "vaulttest: path must start with /v1/")
	}
	c.path = strings.TrimPrefix(r.URL.Path, "/v1/")
	c.fullPath = c.path
	if c.namespace != "" {
		c.fullPath = c.namespace + "/" + c.path
	}

	switch {
	case r.Method == "LIST", r.Method == http.MethodGet && c.query.Get("list") == "true":
		c.operation = "list"
		if !strings.HasSuffix(c.path, "/") {
			c.path += "/"
			c.fullPath += "/"
		}
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		c.operation = "read"
	case r.Method == http.MethodPut, r.Method == http.MethodPost:
		c.operation = "update" // create or update is settled per backend
	case r.Method == http.MethodDelete:
		c.operation = "delete"
	default:
		return c, errorReply(http.StatusMethodNotAllowed, "unsupported operation")
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return c, errorReply(http.StatusBadRequest, "failed to read request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&c.data); err != nil {
			return c, errorReply(http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		}
	}

	id := r.Header.Get("X-Vault-Token")
	if id == "" {
		id = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if id != "" {
		c.token = s.lookupToken(id)
	}
	return c, reply{}
}

// route applies faults and auth, then hands the call to its handler.
func (s *Server) route(r *http.Request, c *call) reply {
	if err := s.wait(r); err != nil {
		return errorReply(http.StatusServiceUnavailable, "vaulttest: request canceled")
	}

	sealed := s.isSealed()
	if c.path == "sys/health" {
		return s.health(sealed, c.query.Get("sealedcode"))
	}
	if sealed {
		return errorReply(http.StatusServiceUnavailable, "Vault is sealed")
	}
	if rep, ok := s.pathFault(c.path); ok {
		return rep
	}
	if mount, ok := strings.CutPrefix(c.path, "auth/"); ok && strings.HasSuffix(mount, "/login") {
		c.operation = "login"
		return s.login(strings.TrimSuffix(mount, "/login"), c)
	}

	if c.token == nil {
		return permissionDenied()
	}
	if s.isDenied(c.path) {
		return permissionDenied()
	}

	switch {
	case c.path == "auth/token/lookup-self":
		return s.lookupSelf(c)
	case c.path == "auth/token/renew-self":
		return s.renewSelf(c)
	case c.path == "sys/capabilities-self":
		return s.capabilitiesSelf(c)
	case c.path == "sys/mounts" && c.operation == "read":
		return s.listMounts(c)
	case strings.HasPrefix(c.path, "sys/internal/ui/mounts/"):
		return s.describeMount(c)
	}
	if m, rest := s.findMount(c.fullPath); m != nil {
		return s.handleKV(r, c, m, rest)
	}
	return errorReply(http.StatusNotFound,
		"no handler for route \""+c.path+"\". route entry not found.")
}

// wait delays the request by the configured latency, or until the client
// goes away.
func (s *Server) wait(r *http.Request) error {
	s.mu.Lock()
	latency := s.faults.latency
	s.mu.Unlock()
	if latency <= 0 {
		return nil
	}

	timer := time.NewTimer(latency)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// health serves sys/health the way Vault does: 200 when unsealed and
// active, 503 when sealed unless the sealedcode parameter requests another
// status.
func (s *Server) health(sealed bool, sealedCode string) reply {
	status := http.StatusOK
	if sealed {
		status = http.StatusServiceUnavailable
		if code, err := strconv.Atoi(sealedCode); err == nil && code >= 200 && code < 600 {
			status = code
		}
	}
	return reply{status: status, body: map[string]any{
		"initialized":     true,
		"sealed":          sealed,
		"standby":         false,
		"server_time_utc": s.now().Unix(),
		"version":         "vaulttest",
		"cluster_name":    "vaulttest",
	}}
}

// randomID returns prefix followed by 24 random hex characters.
func randomID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("vaulttest: read random bytes: " + err.Error()))
	}
	return prefix + hex.EncodeToString(b)
}
