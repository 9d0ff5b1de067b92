package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// maxSecretFileSize bounds the size of a secret file. Cloudflare token
// values are 40 to 80 characters, and 64 KiB is far above any Vault token or
// secret id, so a larger file is a wrong path, not a secret.
const maxSecretFileSize = 64 << 10

// SecretSource is the kind of store a secret reference reads from.
type SecretSource string

// The sources a secret reference can name.
const (
	SecretFromEnv        SecretSource = "env"        // an environment variable
	SecretFromFile       SecretSource = "file"       // a file, trailing newlines trimmed
	SecretFromCredential SecretSource = "credential" // a systemd credential
)

// SecretRef is a reference such as {env: CF_API_TOKEN} to a secret stored
// outside the configuration file. The zero SecretRef means "not set".
type SecretRef struct {
	Source SecretSource
	// Name is the variable name, the file path or the credential name.
	Name string
	// Path, Line and Column place the reference in the file, for messages.
	Path   string
	Line   int
	Column int
}

// IsZero reports whether the reference is not set.
func (r SecretRef) IsZero() bool {
	return r.Source == ""
}

// String returns the reference as written, such as "{env: CF_API_TOKEN}".
// It never contains the secret.
func (r SecretRef) String() string {
	if r.IsZero() {
		return "(not set)"
	}
	return fmt.Sprintf("{%s: %s}", r.Source, r.Name)
}

// validateSecretRef checks the shape of a reference without reading it.
func validateSecretRef(r SecretRef) error {
	switch r.Source {
	case SecretFromEnv:
		if !isEnvName(r.Name) {
			return fmt.Errorf("%q is not a valid environment variable name", r.Name)
		}
	case SecretFromFile:
		if !filepath.IsAbs(r.Name) {
			return fmt.Errorf("%q is not an absolute path", r.Name)
		}
	case SecretFromCredential:
		if r.Name == "" || r.Name == "." || r.Name == ".." || strings.ContainsRune(r.Name, '/') {
			return fmt.Errorf("%q is not a credential name; use the name given to "+
				"LoadCredential= or SetCredential= in the unit, without a directory", r.Name)
		}
	default:
		return fmt.Errorf("unknown secret source %q", r.Source)
	}
	return nil
}

// isEnvName reports whether name is a portable environment variable name.
func isEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, c := range name {
		if c != '_' && (c > unicode.MaxASCII || !unicode.IsLetter(c) && !unicode.IsDigit(c)) {
			return false
		}
	}
	return true
}

// Resolver reads the values of secret references. Its functions are
// injected so that tests and check-config control the environment and the
// files it reads.
type Resolver struct {
	// Getenv returns an environment variable, or "" when it is unset.
	Getenv func(string) string
	// ReadFile returns a file's contents, as os.ReadFile does.
	ReadFile func(string) ([]byte, error)
}

// Resolve reads the value of one reference. Errors name the reference and
// never contain the value.
func (r Resolver) Resolve(ref SecretRef) (tokenapi.Secret, error) {
	var value string
	switch ref.Source {
	case SecretFromEnv:
		value = r.Getenv(ref.Name)
		if value == "" {
			return tokenapi.Secret{}, fmt.Errorf("environment variable %s is not set or empty",
				ref.Name)
		}
	case SecretFromFile:
		text, err := r.readSecretFile(ref.Name)
		if err != nil {
			return tokenapi.Secret{}, err
		}
		value = text
	case SecretFromCredential:
		dir := r.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return tokenapi.Secret{}, fmt.Errorf("credential %s: CREDENTIALS_DIRECTORY is not "+
				"set, so the daemon is not running under a systemd unit that passes "+
				"credentials; add LoadCredential=%s:PATH to the unit, or use {file: PATH}",
				ref.Name, ref.Name)
		}
		text, err := r.readSecretFile(filepath.Join(dir, ref.Name))
		if err != nil {
			return tokenapi.Secret{}, fmt.Errorf("credential %s: %w", ref.Name, err)
		}
		value = text
	default:
		return tokenapi.Secret{}, fmt.Errorf("unknown secret source %q", ref.Source)
	}

	if i := strings.IndexFunc(value, isNotTokenChar); i >= 0 {
		return tokenapi.Secret{}, fmt.Errorf("the value of %s contains a space or control "+
			"character at byte %d; it must contain only the secret", ref, i)
	}
	return tokenapi.NewSecret(value), nil
}

// readSecretFile reads a secret file and trims trailing line breaks.
func (r Resolver) readSecretFile(path string) (string, error) {
	data, err := r.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("file %s does not exist", path)
	}
	if err != nil {
		// The error of os.ReadFile names the path and the cause, never the contents.
		return "", fmt.Errorf("read secret file: %w", err)
	}
	if len(data) > maxSecretFileSize {
		return "", fmt.Errorf("file %s is %d bytes, larger than the %d bytes a secret may be",
			path, len(data), maxSecretFileSize)
	}
	text := strings.TrimRight(string(data), "\r\n")
	if text == "" {
		return "", fmt.Errorf("file %s is empty", path)
	}
	return text, nil
}

// isNotTokenChar reports whether c cannot be part of a secret: secrets are
// sent in HTTP headers, where spaces and control characters break them.
func isNotTokenChar(c rune) bool {
	return unicode.IsSpace(c) || unicode.IsControl(c)
}

// Secrets is the resolved value of every secret reference in a Config.
type Secrets struct {
	// AdminToken is zero when admin_token is not set.
	AdminToken tokenapi.Secret
	// AccountTokens maps account names to their management tokens.
	AccountTokens map[string]tokenapi.Secret
	// Vault maps Vault sink names to their login credentials.
	Vault map[string]VaultCredentials
}

// VaultCredentials is the login of a Vault sink. Only the fields of the
// sink's auth method are set.
type VaultCredentials struct {
	// Token is the Vault token of the token method.
	Token tokenapi.Secret
	// RoleID is the AppRole role id, from role_id or role_id_file. It is
	// not a secret on its own.
	RoleID string
	// SecretID is the AppRole secret id.
	SecretID tokenapi.Secret
}

// ResolveAll resolves every secret reference in cfg. When some cannot be
// read it returns Errors with one entry per reference, at the reference's
// position, and no values.
func (r Resolver) ResolveAll(cfg *Config) (*Secrets, error) {
	secrets := &Secrets{
		AccountTokens: make(map[string]tokenapi.Secret, len(cfg.Accounts)),
		Vault:         make(map[string]VaultCredentials),
	}
	var errs Errors
	resolve := func(ref SecretRef) tokenapi.Secret {
		if ref.IsZero() {
			return tokenapi.Secret{}
		}
		value, err := r.Resolve(ref)
		if err != nil {
			errs = append(errs, Error{File: cfg.File, Line: ref.Line, Column: ref.Column,
				Path: ref.Path, Message: err.Error()})
		}
		return value
	}

	secrets.AdminToken = resolve(cfg.AdminToken)
	for _, account := range cfg.Accounts {
		secrets.AccountTokens[account.Name] = resolve(account.APIToken)
	}
	for _, sink := range cfg.Sinks {
		if sink.Vault == nil {
			continue
		}
		auth := sink.Vault.Auth
		credentials := VaultCredentials{
			Token:    resolve(auth.Token),
			RoleID:   auth.RoleID,
			SecretID: resolve(auth.SecretID),
		}
		if auth.RoleIDFile != "" {
			roleID, err := r.readSecretFile(auth.RoleIDFile)
			if err != nil {
				errs = append(errs, Error{File: cfg.File, Line: auth.roleIDFileLine,
					Column: auth.roleIDFileColumn,
					Path:   "sinks." + sink.Name + ".vault.auth.role_id_file", Message: err.Error()})
			}
			credentials.RoleID = roleID
		}
		secrets.Vault[sink.Name] = credentials
	}

	if len(errs) > 0 {
		return nil, sortErrors(errs)
	}
	return secrets, nil
}
