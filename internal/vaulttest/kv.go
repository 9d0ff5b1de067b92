package vaulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/logical"
)

// kvMount is a KV engine mounted at path.
type kvMount struct {
	path     string // full path, namespace included, no trailing slash
	version  int
	uuid     string
	accessor string
	backend  logical.Backend
	storage  logical.Storage
}

// MountKV mounts a fresh KV engine of version 1 or 2 at path, which may
// contain slashes ("teams/test/secret"). To mount inside a namespace, put
// the namespace in front ("ns1/secret"). It fails the test that started
// the server on error, so call it from that test's goroutine.
func (s *Server) MountKV(path string, version int) {
	s.tb.Helper()
	if err := s.mountKV(path, version); err != nil {
		s.tb.Fatalf("vaulttest: mount KV v%d at %q: %v", version, path, err)
	}
}

func (s *Server) mountKV(path string, version int) error {
	path = strings.Trim(path, "/")
	if path == "" || strings.HasPrefix(path, "sys/") || strings.HasPrefix(path, "auth/") {
		return fmt.Errorf("invalid mount path %q", path)
	}
	if version != 1 && version != 2 {
		return fmt.Errorf("invalid KV version %d, want 1 or 2", version)
	}

	m := &kvMount{
		path:     path,
		version:  version,
		uuid:     randomID(""),
		accessor: randomID("kv_"),
		storage:  &logical.InmemStorage{},
	}
	ctx := context.Background()
	config := &logical.BackendConfig{
		Logger: hclog.NewNullLogger(),
		System: &logical.StaticSystemView{
			DefaultLeaseTTLVal: 768 * time.Hour,
			MaxLeaseTTLVal:     768 * time.Hour,
		},
		StorageView: m.storage,
		BackendUUID: m.uuid,
		Config:      map[string]string{"version": strconv.Itoa(version)},
	}
	backend, err := kv.Factory(ctx, config)
	if err != nil {
		return fmt.Errorf("create KV backend: %w", err)
	}
	if err := backend.Initialize(ctx, &logical.InitializationRequest{Storage: m.storage}); err != nil {
		return fmt.Errorf("initialize KV backend: %w", err)
	}
	m.backend = backend

	if version == 2 {
		// A first read of "config" is what Vault core does after mounting; it
		// proves the upgrade of a new, empty mount has finished.
		req := &logical.Request{Operation: logical.ReadOperation, Path: "config", Storage: m.storage}
		resp, err := backend.HandleRequest(ctx, req)
		if err != nil {
			return fmt.Errorf("read KV v2 config: %w", err)
		}
		if resp.IsError() {
			return fmt.Errorf("read KV v2 config: %w", resp.Error())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mounts[path]; ok {
		return fmt.Errorf("path is already in use at %s/", path)
	}
	s.mounts[path] = m
	return nil
}

// findMount returns the mount with the longest path that contains
// fullPath, and the rest of the path inside it.
func (s *Server) findMount(fullPath string) (*kvMount, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *kvMount
	for p, m := range s.mounts {
		if fullPath != p && !strings.HasPrefix(fullPath, p+"/") {
			continue
		}
		if best == nil || len(p) > len(best.path) {
			best = m
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(fullPath, best.path), "/")
}

// handleKV checks the policy and sends the call to the mount's KV engine.
func (s *Server) handleKV(r *http.Request, c *call, m *kvMount, rest string) reply {
	req := &logical.Request{
		ID:                  randomID(""),
		Path:                rest,
		Data:                c.data,
		Storage:             m.storage,
		MountPoint:          m.path + "/",
		MountType:           "kv",
		MountAccessor:       m.accessor,
		ClientToken:         c.token.id,
		ClientTokenAccessor: c.token.accessor,
		Connection:          &logical.Connection{RemoteAddr: c.remote},
	}
	switch c.operation {
	case "read":
		req.Operation = logical.ReadOperation
		req.Data = queryData(c.query)
	case "list":
		req.Operation = logical.ListOperation
		req.Data = queryData(c.query)
	case "delete":
		req.Operation = logical.DeleteOperation
	default:
		req.Operation = logical.UpdateOperation
		checked, exists, err := m.backend.HandleExistenceCheck(r.Context(), req)
		if err != nil {
			return errorReply(http.StatusInternalServerError, err.Error())
		}
		if checked && !exists {
			req.Operation = logical.CreateOperation
		}
	}
	c.operation = string(req.Operation)

	if !s.may(c.token, c.path, c.operation) {
		return permissionDenied()
	}
	if req.Operation != logical.ReadOperation && req.Operation != logical.ListOperation {
		if status := s.takeWriteFailure(); status != 0 {
			return errorReply(status, "vaulttest: forced write failure")
		}
	}

	resp, err := m.backend.HandleRequest(r.Context(), req)
	return backendReply(req, resp, err)
}

// queryData turns query parameters other than "list" into request data.
func queryData(query map[string][]string) map[string]any {
	data := map[string]any{}
	for k, v := range query {
		if k != "list" && len(v) > 0 {
			data[k] = v[0]
		}
	}
	return data
}

// backendReply turns a logical response into Vault's HTTP reply.
func backendReply(req *logical.Request, resp *logical.Response, err error) reply {
	if resp != nil && resp.Data != nil && resp.Data[logical.HTTPStatusCode] != nil {
		return rawReply(resp)
	}

	status, err := logical.RespondErrorCommon(req, resp, err)
	if err != nil {
		return errorReply(status, err.Error())
	}
	if status == http.StatusNotFound {
		return errorReply(status)
	}
	if resp == nil {
		return reply{status: http.StatusNoContent}
	}
	body := logical.LogicalResponseToHTTPResponse(resp)
	body.RequestID = req.ID
	return reply{status: http.StatusOK, body: body}
}

// rawReply sends a response the engine built with RespondWithStatusCode.
func rawReply(resp *logical.Response) reply {
	status, _ := resp.Data[logical.HTTPStatusCode].(int)
	if status == 0 {
		status = http.StatusOK
	}
	switch body := resp.Data[logical.HTTPRawBody].(type) {
	case string:
		return reply{status: status, body: json.RawMessage(body)}
	case []byte:
		return reply{status: status, body: json.RawMessage(body)}
	}
	return reply{status: status}
}

// mountInfo is the description of a mount in sys/mounts and
// sys/internal/ui/mounts.
func (m *kvMount) info(relativePath string) map[string]any {
	return map[string]any{
		"type":                    "kv",
		"description":             "",
		"accessor":                m.accessor,
		"uuid":                    m.uuid,
		"path":                    relativePath + "/",
		"local":                   false,
		"seal_wrap":               false,
		"external_entropy_access": false,
		"options":                 map[string]string{"version": strconv.Itoa(m.version)},
		"config": map[string]any{
			"default_lease_ttl": 0,
			"max_lease_ttl":     0,
			"force_no_cache":    false,
		},
	}
}

// describeMount serves sys/internal/ui/mounts/<path>: the mount that
// contains path, if the token may use anything in it.
func (s *Server) describeMount(c *call) reply {
	if c.operation != "read" {
		return errorReply(http.StatusMethodNotAllowed, "unsupported operation")
	}
	path := strings.TrimPrefix(c.path, "sys/internal/ui/mounts/")
	full := path
	if c.namespace != "" {
		full = c.namespace + "/" + path
	}
	m, _ := s.findMount(strings.Trim(full, "/"))
	if m == nil {
		return errorReply(http.StatusBadRequest, fmt.Sprintf("no mount found for path %q", path))
	}
	relative := strings.TrimPrefix(m.path, c.namespace+"/")
	if c.namespace == "" {
		relative = m.path
	}
	if !c.token.root && !touchesMount(c.token.spec.Rules, relative) {
		return permissionDenied()
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id": randomID(""), "lease_id": "", "renewable": false,
		"lease_duration": 0, "data": m.info(relative), "wrap_info": nil,
		"warnings": nil, "auth": nil,
	}}
}

// listMounts serves GET sys/mounts with the KV mounts of the namespace.
func (s *Server) listMounts(c *call) reply {
	if !s.may(c.token, "sys/mounts", CapRead) {
		return permissionDenied()
	}
	s.mu.Lock()
	var paths []string
	for p := range s.mounts {
		paths = append(paths, p)
	}
	s.mu.Unlock()
	sort.Strings(paths)

	data := map[string]any{}
	for _, p := range paths {
		relative := p
		if c.namespace != "" {
			var ok bool
			relative, ok = strings.CutPrefix(p, c.namespace+"/")
			if !ok {
				continue
			}
		}
		m, _ := s.findMount(p)
		data[relative+"/"] = m.info(relative)
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"request_id": randomID(""), "lease_id": "", "renewable": false,
		"lease_duration": 0, "data": data, "wrap_info": nil, "warnings": nil,
		"auth": nil,
	}}
}
