package sinks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tokenrotator/tokenrotator/tokenapi"
)

// File formats.
const (
	FormatRaw  = "raw"  // the value and a newline
	FormatJSON = "json" // a JSON object with the value and its metadata
	FormatEnv  = "env"  // one FIELD=value line
)

// maxFileBytes is the largest file the file sink reads back.
const maxFileBytes = 1 << 20

// envName is the pattern of a variable name in an env file.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FileOptions configures a FileSink.
type FileOptions struct {
	// Name is the sink name in logs and metrics. Default: "file".
	Name string
	// Dir is the base directory; target paths are relative to it.
	Dir string
	// Format is raw, json or env. Default: raw.
	Format string
	// Mode is the permission of written files. Default: 0600.
	Mode fs.FileMode
}

// FileSink writes values to files under one directory. Each write goes
// to a temporary file in the target's directory, is synced and renamed
// over the target, and the directory is synced, so readers see the old
// file or the new one, never a partial one. For raw and env files the
// metadata lives in a sidecar file ".NAME.tokenrotator.json", written the
// same way before the value.
type FileSink struct {
	name   string
	dir    string
	format string
	mode   fs.FileMode
}

var _ Sink = (*FileSink)(nil)

// NewFile validates opts and returns a file sink. It does not touch the
// disk; call Check for that.
func NewFile(opts FileOptions) (*FileSink, error) {
	s := &FileSink{name: opts.Name, dir: opts.Dir, format: opts.Format, mode: opts.Mode}
	if s.name == "" {
		s.name = "file"
	}
	if s.format == "" {
		s.format = FormatRaw
	}
	if s.mode == 0 {
		s.mode = 0o600
	}
	switch {
	case s.dir == "":
		return nil, s.invalid("new", "", "the directory is empty; set dir")
	case s.format != FormatRaw && s.format != FormatJSON && s.format != FormatEnv:
		return nil, s.invalid("new", s.dir,
			fmt.Sprintf("format %q is not one of raw, json, env", s.format))
	case s.mode&^fs.ModePerm != 0:
		return nil, s.invalid("new", s.dir, fmt.Sprintf("mode %v has bits beyond permissions", s.mode))
	}
	return s, nil
}

// Name returns the sink name.
func (s *FileSink) Name() string {
	return s.name
}

// fileRecord is the JSON form of the value file (json format) or the
// sidecar (raw and env formats). Value is set only in the json format.
type fileRecord struct {
	Value       string `json:"-"`
	TokenID     string `json:"token_id"`
	AccountID   string `json:"account_id,omitempty"`
	TokenName   string `json:"token_name,omitempty"`
	ExpiresOn   string `json:"expires_on,omitempty"`
	RotatedAt   string `json:"rotated_at"`
	ManagedBy   string `json:"managed_by"`
	ValueSHA256 string `json:"value_sha256,omitempty"`
}

// Check verifies that the target's directory exists and that a file can
// be created in it.
func (s *FileSink) Check(ctx context.Context, t Target) error {
	rel, err := s.target(t)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return s.fail("check", s.dir, err, "create the directory or fix dir")
	}
	defer root.Close()

	probe, name, err := createTemp(root, rel)
	if err != nil {
		return s.fail("check", s.path(path.Dir(rel)), err,
			"make the directory writable for this user")
	}
	_ = probe.Close()
	if err := root.Remove(name); err != nil {
		return s.fail("check", s.path(name), err, "remove the probe file by hand")
	}
	return ctx.Err()
}

// Read returns the stored value and metadata. A sidecar whose value hash
// does not match the value file is ignored, because the value write after
// it did not finish.
func (s *FileSink) Read(ctx context.Context, t Target) (Stored, error) {
	rel, err := s.target(t)
	if err != nil {
		return Stored{}, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return Stored{}, s.fail("read", s.dir, err, "create the directory or fix dir")
	}
	defer root.Close()

	content, err := readFile(root, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, ctx.Err()
	}
	if err != nil {
		return Stored{}, s.fail("read", s.path(rel), err, "")
	}

	stored, err := s.decode(root, rel, t, content)
	if err != nil {
		return Stored{}, err
	}
	return stored, ctx.Err()
}

// decode parses a value file and, for raw and env, its sidecar.
func (s *FileSink) decode(root *os.Root, rel string, t Target, content []byte) (Stored, error) {
	var meta fileRecord
	var value string
	switch s.format {
	case FormatJSON:
		var fields map[string]any
		if err := json.Unmarshal(content, &fields); err != nil {
			return Stored{}, s.fail("read", s.path(rel), errors.New("file is not a JSON object"),
				"remove the file or change the format")
		}
		value, _ = fields[fieldName(t)].(string)
		meta.TokenID, _ = fields["token_id"].(string)
		meta.ExpiresOn, _ = fields["expires_on"].(string)
		meta.RotatedAt, _ = fields["rotated_at"].(string)
	case FormatEnv:
		value = envValue(string(content), t.Field)
		meta = s.readSidecar(root, rel, value)
	default:
		value = strings.TrimSuffix(string(content), "\n")
		meta = s.readSidecar(root, rel, value)
	}

	stored := Stored{
		Exists:    true,
		Value:     tokenapi.NewSecret(value),
		TokenID:   meta.TokenID,
		ExpiresOn: parseTime(meta.ExpiresOn),
	}
	if at := parseTime(meta.RotatedAt); at != nil {
		stored.RotatedAt = *at
	}
	return stored, nil
}

// readSidecar returns the sidecar of rel if it describes value, or an
// empty record.
func (s *FileSink) readSidecar(root *os.Root, rel, value string) fileRecord {
	content, err := readFile(root, sidecarPath(rel))
	if err != nil {
		return fileRecord{}
	}
	var meta fileRecord
	if json.Unmarshal(content, &meta) != nil || meta.ValueSHA256 != hashValue(value) {
		return fileRecord{}
	}
	return meta
}

// envValue returns the value of name in env-file content, or "".
func envValue(content, name string) string {
	for line := range strings.SplitSeq(content, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	return ""
}

// Write stores r if the file still matches expect. A file that already
// holds r (an earlier write whose result was lost) is rewritten, not
// reported as a conflict.
// NOTE: the comparison and the rename are not one atomic step, so two
// writers racing inside that window are not detected.
func (s *FileSink) Write(ctx context.Context, t Target, r Record, expect Stored) (Stored, error) {
	rel, err := s.target(t)
	if err != nil {
		return Stored{}, err
	}
	content, sidecar, err := s.encode(t, r)
	if err != nil {
		return Stored{}, err
	}

	current, err := s.Read(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	if !matches(current, expect) && !alreadyWritten(current, r) {
		return current, &Error{Sink: s.name, Op: "write", Path: s.path(rel), Kind: ErrConflict,
			Hint: "the file changed since it was read; read it again before writing"}
	}

	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return Stored{}, s.fail("write", s.dir, err, "create the directory or fix dir")
	}
	defer root.Close()
	if sidecar != nil {
		if err := s.writeAtomic(root, sidecarPath(rel), sidecar); err != nil {
			return Stored{}, err
		}
	}
	if err := s.writeAtomic(root, rel, content); err != nil {
		return Stored{}, err
	}

	back, err := s.Read(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	if !back.Value.Equal(r.Value) || back.TokenID != r.TokenID {
		return back, &Error{Sink: s.name, Op: "write", Path: s.path(rel), Kind: ErrConflict,
			Hint: "the file read back differs from what was written; another writer uses it"}
	}
	return back, nil
}

// encode renders the value file and, for raw and env, the sidecar.
func (s *FileSink) encode(t Target, r Record) (content, sidecar []byte, err error) {
	value := r.Value.Reveal()
	if value == "" {
		return nil, nil, s.invalid("write", s.path(t.Path), "the value is empty")
	}
	meta := fileRecord{
		TokenID:   r.TokenID,
		AccountID: r.AccountID,
		TokenName: r.TokenName,
		ExpiresOn: formatTime(r.ExpiresOn),
		RotatedAt: r.RotatedAt.UTC().Format(time.RFC3339Nano),
		ManagedBy: ManagedBy,
	}

	if s.format == FormatJSON {
		fields := map[string]any{
			fieldName(t): value, "token_id": meta.TokenID, "account_id": meta.AccountID,
			"token_name": meta.TokenName, "expires_on": meta.ExpiresOn,
			"rotated_at": meta.RotatedAt, "managed_by": ManagedBy,
		}
		content, err = json.MarshalIndent(fields, "", "  ")
		return append(content, '\n'), nil, err
	}

	if strings.ContainsAny(value, "\r\n\x00") {
		return nil, nil, s.invalid("write", s.path(t.Path),
			"the value contains a line break, which raw and env files cannot hold")
	}
	meta.ValueSHA256 = hashValue(value)
	sidecar, err = json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if s.format == FormatEnv {
		return []byte(t.Field + "=" + value + "\n"), append(sidecar, '\n'), nil
	}
	return []byte(value + "\n"), append(sidecar, '\n'), nil
}

// writeAtomic replaces rel with content: temporary file in the same
// directory, write, fsync, rename, fsync of the directory. On failure the
// temporary file is removed and rel is unchanged.
func (s *FileSink) writeAtomic(root *os.Root, rel string, content []byte) error {
	tmp, name, err := createTemp(root, rel)
	if err != nil {
		return s.fail("write", s.path(path.Dir(rel)), err, "make the directory writable")
	}
	fail := func(err error) error {
		_ = tmp.Close()
		_ = root.Remove(name)
		return s.fail("write", s.path(rel), err, "")
	}

	if err := tmp.Chmod(s.mode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(content); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		_ = root.Remove(name)
		return s.fail("write", s.path(rel), err, "")
	}
	if err := root.Rename(name, rel); err != nil {
		_ = root.Remove(name)
		return s.fail("write", s.path(rel), err, "")
	}

	dir, err := root.Open(path.Dir(rel))
	if err != nil {
		return s.fail("write", s.path(path.Dir(rel)), err, "")
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return s.fail("write", s.path(path.Dir(rel)), err, "")
	}
	return nil
}

// createTemp creates an empty 0600 file next to rel whose name starts
// with a dot, so that globs for the target do not pick it up. It returns
// the file and its path relative to root.
func createTemp(root *os.Root, rel string) (*os.File, string, error) {
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return nil, "", err
	}
	name := path.Join(path.Dir(rel), "."+path.Base(rel)+".tmp-"+hex.EncodeToString(suffix))
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return f, name, err
}

// readFile reads rel through root, up to maxFileBytes.
func readFile(root *os.Root, rel string) ([]byte, error) {
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileBytes))
}

// sidecarPath returns the metadata file path for rel.
func sidecarPath(rel string) string {
	return path.Join(path.Dir(rel), "."+path.Base(rel)+".tokenrotator.json")
}

// hashValue returns the hex SHA-256 of value. The sidecar stores it to tell
// whether its metadata belongs to the value file beside it.
func hashValue(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// target validates t and returns its path relative to the directory, in
// slash form.
func (s *FileSink) target(t Target) (string, error) {
	rel := filepath.ToSlash(t.Path)
	if !filepath.IsLocal(t.Path) || strings.HasSuffix(rel, "/") {
		return "", s.invalid("target", t.Path,
			"the path must be relative to the sink directory, without \"..\"")
	}
	rel = path.Clean(rel)
	if s.format == FormatEnv && !envName.MatchString(t.Field) {
		return "", s.invalid("target", t.Path,
			fmt.Sprintf("env files need a variable name as field, got %q", t.Field))
	}
	return rel, nil
}

// path returns the full file path of rel, for messages.
func (s *FileSink) path(rel string) string {
	return filepath.Join(s.dir, filepath.FromSlash(rel))
}

func (s *FileSink) invalid(op, p, hint string) error {
	return &Error{Sink: s.name, Op: op, Path: p, Kind: ErrInvalid, Hint: hint}
}

// fail wraps a file system error with its kind.
func (s *FileSink) fail(op, p string, err error, hint string) error {
	var kind error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind = ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		kind = ErrPermissionDenied
	}
	return &Error{Sink: s.name, Op: op, Path: p, Kind: kind, Hint: hint, Err: err}
}
