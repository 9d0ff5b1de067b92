package config

import (
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// authKeys lists the auth keys each method uses. Keys of other methods are
// errors, so that no written setting is silently ignored.
var authKeys = map[AuthMethod][]string{
	AuthToken:      {"method", "token"},
	AuthAppRole:    {"method", "mount", "role_id", "role_id_file", "secret_id"},
	AuthKubernetes: {"method", "mount", "role", "service_account_token_file"},
}

// decodeVault decodes the settings of a Vault sink.
func (d *decoder) decodeVault(n *yaml.Node, path string) (*VaultSink, bool) {
	m, ok := d.mapping(n, path, "address", "namespace", "mount", "kv_version", "auth", "tls")
	if !ok {
		return nil, false
	}
	sink := &VaultSink{KVVersion: KVAuto}
	valid := true
	check := func(ok bool) {
		valid = valid && ok
	}

	if v := d.required(m, "address"); v != nil {
		sink.Address, ok = d.httpURL(v, m.child("address"))
		check(ok)
	} else {
		check(false)
	}
	if v := m.get("namespace"); v != nil {
		sink.Namespace, ok = d.scalar(v, m.child("namespace"))
		check(ok)
	}
	if v := d.required(m, "mount"); v != nil {
		sink.Mount, ok = d.mountPath(v, m.child("mount"))
		check(ok)
	} else {
		check(false)
	}
	if v := m.get("kv_version"); v != nil {
		var version string
		version, ok = d.oneOf(v, m.child("kv_version"), "auto", "1", "2")
		if ok && version != "auto" {
			number, _ := strconv.Atoi(version)
			sink.KVVersion = KVVersion(number)
		}
		check(ok)
	}
	if v := d.required(m, "auth"); v != nil {
		sink.Auth, ok = d.decodeVaultAuth(v, m.child("auth"))
		check(ok)
	} else {
		check(false)
	}
	if v := m.get("tls"); v != nil {
		sink.TLS, ok = d.decodeVaultTLS(v, m.child("tls"))
		check(ok)
	}
	return sink, valid
}

// decodeVaultAuth decodes the login settings of a Vault sink.
func (d *decoder) decodeVaultAuth(n *yaml.Node, path string) (VaultAuth, bool) {
	m, ok := d.mapping(n, path, "method", "mount", "token", "role_id", "role_id_file",
		"secret_id", "role", "service_account_token_file")
	if !ok {
		return VaultAuth{}, false
	}
	methodNode := d.required(m, "method")
	if methodNode == nil {
		return VaultAuth{}, false
	}
	text, ok := d.oneOf(methodNode, m.child("method"),
		formatNames(AuthToken, AuthAppRole, AuthKubernetes)...)
	if !ok {
		return VaultAuth{}, false
	}
	auth := VaultAuth{Method: AuthMethod(text)}

	valid := true
	for key, keyNode := range m.keys {
		if !slices.Contains(authKeys[auth.Method], key) {
			d.errorf(keyNode, m.child(key), "does not apply to auth method %s", auth.Method)
			valid = false
		}
	}
	if !valid {
		return VaultAuth{}, false
	}

	switch auth.Method {
	case AuthToken:
		return d.decodeTokenAuth(m, auth)
	case AuthAppRole:
		return d.decodeAppRoleAuth(m, auth)
	default:
		return d.decodeKubernetesAuth(m, auth)
	}
}

func (d *decoder) decodeTokenAuth(m mapping, auth VaultAuth) (VaultAuth, bool) {
	v := d.required(m, "token")
	if v == nil {
		return auth, false
	}
	var ok bool
	auth.Token, ok = d.secretRef(v, m.child("token"))
	return auth, ok
}

func (d *decoder) decodeAppRoleAuth(m mapping, auth VaultAuth) (VaultAuth, bool) {
	auth.Mount = string(AuthAppRole)
	valid := true
	if v := m.get("mount"); v != nil {
		var ok bool
		auth.Mount, ok = d.mountPath(v, m.child("mount"))
		valid = valid && ok
	}

	switch {
	case m.has("role_id") && m.has("role_id_file"):
		d.errorf(m.keys["role_id_file"], m.child("role_id_file"),
			"set either role_id or role_id_file, not both")
		valid = false
	case m.has("role_id"):
		var ok bool
		auth.RoleID, ok = d.nonEmpty(m.get("role_id"), m.child("role_id"))
		valid = valid && ok
	case m.has("role_id_file"):
		v := m.get("role_id_file")
		var ok bool
		auth.RoleIDFile, ok = d.absolutePath(v, m.child("role_id_file"))
		auth.roleIDFileLine, auth.roleIDFileColumn = v.Line, v.Column
		valid = valid && ok
	default:
		d.errorf(m.node, m.child("role_id"), "missing; set role_id or role_id_file")
		valid = false
	}

	if v := d.required(m, "secret_id"); v != nil {
		var ok bool
		auth.SecretID, ok = d.secretRef(v, m.child("secret_id"))
		valid = valid && ok
	} else {
		valid = false
	}
	return auth, valid
}

func (d *decoder) decodeKubernetesAuth(m mapping, auth VaultAuth) (VaultAuth, bool) {
	auth.Mount = string(AuthKubernetes)
	auth.ServiceAccountTokenFile = DefaultServiceAccountTokenFile
	valid := true
	if v := m.get("mount"); v != nil {
		var ok bool
		auth.Mount, ok = d.mountPath(v, m.child("mount"))
		valid = valid && ok
	}
	if v := d.required(m, "role"); v != nil {
		var ok bool
		auth.Role, ok = d.nonEmpty(v, m.child("role"))
		valid = valid && ok
	} else {
		valid = false
	}
	if v := m.get("service_account_token_file"); v != nil {
		var ok bool
		auth.ServiceAccountTokenFile, ok = d.absolutePath(v, m.child("service_account_token_file"))
		valid = valid && ok
	}
	return auth, valid
}

// decodeVaultTLS decodes the TLS settings of a Vault sink.
func (d *decoder) decodeVaultTLS(n *yaml.Node, path string) (VaultTLS, bool) {
	m, ok := d.mapping(n, path, "ca_file", "server_name", "insecure_skip_verify")
	if !ok {
		return VaultTLS{}, false
	}
	var tls VaultTLS
	valid := true
	if v := m.get("ca_file"); v != nil {
		tls.CAFile, ok = d.absolutePath(v, m.child("ca_file"))
		valid = valid && ok
	}
	if v := m.get("server_name"); v != nil {
		tls.ServerName, ok = d.nonEmpty(v, m.child("server_name"))
		valid = valid && ok
	}
	if v := m.get("insecure_skip_verify"); v != nil {
		tls.InsecureSkipVerify, ok = d.boolean(v, m.child("insecure_skip_verify"))
		valid = valid && ok
		if tls.InsecureSkipVerify {
			d.warnf(v, m.child("insecure_skip_verify"), "TLS certificates of Vault are not "+
				"verified, so anyone on the network path can read the token values; set "+
				"ca_file instead")
		}
	}
	return tls, valid
}
