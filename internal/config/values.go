package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	// labelPattern restricts account and sink names, which become metric
	// label values and parts of messages.
	labelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// hexIDPattern is a Cloudflare account or token id.
	hexIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	// envNamePattern is a variable name that env files and shells accept.
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxTokenNameLength is the longest token name Cloudflare accepts.
const maxTokenNameLength = 120

// duration parses a duration scalar. A bare 0 is allowed, and any other
// bare number is reported with a hint to add a unit.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	text, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	value, err := ParseDuration(text)
	switch {
	case errors.Is(err, errNoUnit) && isNumber(text):
		d.errorf(n, path, "%q has no unit; write %sd for days, %sh for hours or %sm for "+
			"minutes", text, text, text, text)
		return 0, false
	case err != nil && strings.HasPrefix(text, "-"):
		d.errorf(n, path, "must not be negative, not %q", text)
		return 0, false
	case err != nil:
		d.errorf(n, path, "%v; write a duration such as 30d, 1w2d, 36h or 15m", err)
		return 0, false
	}
	return value, true
}

// positiveDuration parses a duration that must be longer than zero.
func (d *decoder) positiveDuration(n *yaml.Node, path string) (time.Duration, bool) {
	value, ok := d.duration(n, path)
	if ok && value == 0 {
		d.errorf(n, path, "must be longer than 0")
		return 0, false
	}
	return value, ok
}

// isNumber reports whether text is a plain decimal number.
func isNumber(text string) bool {
	_, err := strconv.ParseFloat(text, 64)
	return err == nil
}

// schedule parses a cron spec scalar.
func (d *decoder) schedule(n *yaml.Node, path string) (Schedule, bool) {
	text, ok := d.scalar(n, path)
	if !ok {
		return Schedule{}, false
	}
	value, err := ParseSchedule(text)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return Schedule{}, false
	}
	return value, true
}

// secretRef parses {env: NAME}, {file: PATH} or {credential: NAME}. A
// value written inline is rejected without being repeated in the message.
func (d *decoder) secretRef(n *yaml.Node, path string) (SecretRef, bool) {
	n = resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		d.errorf(n, path, "secrets must not be written in the configuration file; use "+
			"{env: NAME}, {file: PATH} or {credential: NAME}")
		return SecretRef{}, false
	}
	m, ok := d.mapping(n, path, string(SecretFromEnv), string(SecretFromFile),
		string(SecretFromCredential))
	if !ok {
		return SecretRef{}, false
	}
	if len(m.keys) != 1 {
		// Unknown keys have been reported already.
		if len(m.keys) == len(n.Content)/2 {
			d.errorf(n, path, "must have exactly one of env, file or credential")
		}
		return SecretRef{}, false
	}

	ref := SecretRef{Path: path, Line: n.Line, Column: n.Column}
	for key, value := range m.values {
		name, ok := d.nonEmpty(value, m.child(key))
		if !ok {
			return SecretRef{}, false
		}
		ref.Source, ref.Name = SecretSource(key), name
		if err := validateSecretRef(ref); err != nil {
			d.errorf(value, m.child(key), "%v", err)
			return SecretRef{}, false
		}
	}
	return ref, true
}

// label parses an account or sink name.
func (d *decoder) label(n *yaml.Node, path string) (string, bool) {
	text, ok := d.nonEmpty(n, path)
	if ok && !labelPattern.MatchString(text) {
		d.errorf(n, path, "%q is not a valid name; use up to 64 letters, digits, '.', '_' "+
			"and '-', starting with a letter or digit", text)
		return "", false
	}
	return text, ok
}

// hexID parses a 32-character Cloudflare id.
func (d *decoder) hexID(n *yaml.Node, path, what string) (string, bool) {
	text, ok := d.nonEmpty(n, path)
	if ok && !hexIDPattern.MatchString(text) {
		d.errorf(n, path, "%q is not a Cloudflare %s id; ids are 32 lowercase hex characters",
			text, what)
		return "", false
	}
	return text, ok
}

// absolutePath parses a path that must be absolute.
func (d *decoder) absolutePath(n *yaml.Node, path string) (string, bool) {
	text, ok := d.nonEmpty(n, path)
	if ok && !filepath.IsAbs(text) {
		d.errorf(n, path, "%q is not an absolute path", text)
		return "", false
	}
	return filepath.Clean(text), ok
}

// httpURL parses a URL that credentials are sent to. Plain http is allowed
// only to loopback addresses, because the credential would cross the
// network in clear text.
func (d *decoder) httpURL(n *yaml.Node, path string) (string, bool) {
	text, ok := d.nonEmpty(n, path)
	if !ok {
		return "", false
	}
	u, err := url.Parse(text)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		d.errorf(n, path, "%q is not a valid URL; write it as https://HOST[:PORT][/PATH]", text)
	case u.User != nil:
		d.errorf(n, path, "the URL must not contain a user name or password")
	case u.RawQuery != "" || u.Fragment != "":
		d.errorf(n, path, "%q must not have a query or fragment", text)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		d.errorf(n, path, "%q uses http, which sends credentials in clear text; use https "+
			"(http is allowed only to loopback addresses such as 127.0.0.1)", text)
	default:
		return strings.TrimRight(text, "/"), true
	}
	return "", false
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenAddress parses a host:port to listen on.
func (d *decoder) listenAddress(n *yaml.Node, path string) (string, bool) {
	text, ok := d.nonEmpty(n, path)
	if !ok {
		return "", false
	}
	_, port, err := net.SplitHostPort(text)
	if err != nil {
		d.errorf(n, path, "%q is not HOST:PORT, as in 127.0.0.1:9464 or [::1]:9464", text)
		return "", false
	}
	// Port 0 requests a free port from the kernel, which tests and the demo
	// use. The daemon logs the address it received.
	if number, err := strconv.Atoi(port); err != nil || number < 0 || number > 65535 {
		d.errorf(n, path, "port %q must be a number from 0 to 65535", port)
		return "", false
	}
	return text, true
}

// fileMode parses an octal permission such as "0600". The digits are always
// read as octal, as chmod reads them, also without a leading 0.
func (d *decoder) fileMode(n *yaml.Node, path string) (fs.FileMode, bool) {
	text, ok := d.nonEmpty(n, path)
	if !ok {
		return 0, false
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(text, "0o"), "0")
	value, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || len(digits) > 3 {
		d.errorf(n, path, "%q is not an octal file mode such as \"0600\"", text)
		return 0, false
	}
	mode := fs.FileMode(value)

	const allowed = "; use 0600 or 0400, or 0640 or 0440 to let the group read the file"
	switch {
	case mode&0o400 == 0:
		d.errorf(n, path, "mode %s does not let the owner read the file%s", text, allowed)
	case mode&0o007 != 0:
		d.errorf(n, path, "mode %s gives other users access to token values%s", text, allowed)
	case mode&0o030 != 0:
		d.errorf(n, path, "mode %s lets the group write or execute the file%s", text, allowed)
	case mode&0o100 != 0:
		d.errorf(n, path, "mode %s makes the file executable%s", text, allowed)
	case mode&0o040 != 0:
		d.warnf(n, path, "mode %s lets the file's group read token values", text)
		return mode, true
	default:
		return mode, true
	}
	return 0, false
}

// secretPath checks a Vault secret path: relative, with no empty, "." or
// ".." segments.
func (d *decoder) secretPath(n *yaml.Node, fieldPath string) (string, bool) {
	text, ok := d.nonEmpty(n, fieldPath)
	if !ok {
		return "", false
	}
	for _, segment := range strings.Split(text, "/") {
		if segment == "" || segment == "." || segment == ".." {
			d.errorf(n, fieldPath, "%q must be a relative path with no empty, '.' or '..' parts, "+
				"such as cloudflare/dns-edit", text)
			return "", false
		}
	}
	return text, true
}

// mountPath checks a Vault mount path, dropping outer slashes.
func (d *decoder) mountPath(n *yaml.Node, fieldPath string) (string, bool) {
	text, ok := d.nonEmpty(n, fieldPath)
	if !ok {
		return "", false
	}
	trimmed := strings.Trim(text, "/")
	if trimmed == "" || path.Clean(trimmed) != trimmed || strings.HasPrefix(trimmed, "..") {
		d.errorf(n, fieldPath, "%q is not a mount path such as secret or teams/platform/secret",
			text)
		return "", false
	}
	return trimmed, true
}

// localFile checks a file name relative to a file sink's directory.
func (d *decoder) localFile(n *yaml.Node, fieldPath string) (string, bool) {
	text, ok := d.nonEmpty(n, fieldPath)
	if ok && (!filepath.IsLocal(text) || strings.HasSuffix(text, "/")) {
		d.errorf(n, fieldPath, "%q must be a file name inside the sink's directory, such as "+
			"dns-edit.env", text)
		return "", false
	}
	return filepath.Clean(text), ok
}

// formatNames lists the values of a string enum for messages.
func formatNames[T ~string](values ...T) []string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return names
}

// describeOrigin names where a merged setting came from, for messages.
func describeOrigin(path string) string {
	if path == "" {
		return "the built-in default"
	}
	return fmt.Sprintf("set at %s", path)
}
