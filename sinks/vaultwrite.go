package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
)

// Write stores r at t if t still matches expect.
//
// KV v2: the data write carries options.cas = expect.Version, so a
// concurrent writer makes it fail with ErrConflict instead of being
// overwritten. The custom metadata (token_id, account_id, expires_on,
// rotated_at, managed_by) is then merged into the secret's metadata, and
// the secret is read back to confirm the new version and value. When the
// metadata write fails after the data write, the value is in Vault, so the
// returned Stored describes the new version next to the error.
//
// KV v1: the current value is compared with expect, then the fields are
// written and read back.
// NOTE: KV v1 has no check-and-set, so a writer between the comparison
// and the write is not detected.
//
// A target that already holds r, as after a write whose reply was lost,
// counts as written.
func (s *VaultSink) Write(ctx context.Context, t Target, r Record, expect Stored) (Stored, error) {
	secretPath, err := s.secretPath(t)
	if err != nil {
		return Stored{}, err
	}
	if r.Value.IsZero() {
		return Stored{}, s.invalid("write", s.mount+"/"+secretPath, "the value is empty")
	}
	version, err := s.kvVersion(ctx)
	if err != nil {
		return Stored{}, err
	}
	if version == 2 {
		return s.writeKVv2(ctx, t, secretPath, r, expect)
	}
	return s.writeKVv1(ctx, t, secretPath, r, expect)
}

// metadataFields returns the facts stored beside the value. A token that
// never expires has no expires_on key, because KV v2 rejects empty custom
// metadata values.
func metadataFields(r Record) map[string]any {
	fields := map[string]any{
		"token_id":   r.TokenID,
		"account_id": r.AccountID,
		"rotated_at": r.RotatedAt.UTC().Format(time.RFC3339Nano),
		"managed_by": ManagedBy,
	}
	if expires := formatTime(r.ExpiresOn); expires != "" {
		fields["expires_on"] = expires
	}
	return fields
}

func (s *VaultSink) writeKVv2(ctx context.Context, t Target, secretPath string, r Record,
	expect Stored) (Stored, error) {
	dataPath := s.dataPath(2, secretPath)
	body := map[string]any{
		"data": map[string]any{
			fieldName(t): r.Value.Reveal(),
			"token_id":   r.TokenID,
			"expires_on": formatTime(r.ExpiresOn),
		},
		"options": map[string]any{"cas": expect.Version},
	}
	var reply *api.Secret
	err := s.auth.do(ctx, func() error {
		var err error
		reply, err = s.client.Logical().WriteWithContext(ctx, dataPath, body)
		return err
	})

	var written int
	custom := map[string]any{}
	switch {
	case err == nil && reply != nil:
		written = jsonInt(reply.Data["version"])
		if existing, ok := reply.Data["custom_metadata"].(map[string]any); ok {
			custom = existing
		}
	case err == nil:
		return Stored{}, &Error{Sink: s.name, Op: "write", Path: dataPath,
			Err: errors.New("the reply has no version"), Hint: "check that the mount is KV v2"}
	default:
		failed := s.fail("write", dataPath, err)
		if !errors.Is(failed, ErrConflict) {
			return Stored{}, failed
		}
		current, readErr := s.Read(ctx, t)
		if readErr != nil || !alreadyWritten(current, r) {
			return current, failed
		}
		written = current.Version
	}

	metadataPath := s.metadataPath(secretPath)
	for k, v := range metadataFields(r) {
		custom[k] = v
	}
	err = s.auth.do(ctx, func() error {
		_, err := s.client.Logical().WriteWithContext(ctx, metadataPath,
			map[string]any{"custom_metadata": custom})
		return err
	})
	if err != nil {
		failed := s.fail("write", metadataPath, err).(*Error)
		failed.Hint = fmt.Sprintf("the value is stored as version %d but its metadata is not; %s",
			written, failed.Hint)
		return Stored{Exists: true, Value: r.Value, TokenID: r.TokenID, ExpiresOn: r.ExpiresOn,
			Version: written}, failed
	}

	back, err := s.Read(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	if back.Version != written || !back.Value.Equal(r.Value) {
		return back, &Error{Sink: s.name, Op: "write", Path: dataPath, Kind: ErrConflict,
			Hint: fmt.Sprintf("wrote version %d but read back version %d with another value;"+
				" another writer uses this secret", written, back.Version)}
	}
	return back, nil
}

func (s *VaultSink) writeKVv1(ctx context.Context, t Target, secretPath string, r Record,
	expect Stored) (Stored, error) {
	dataPath := s.dataPath(1, secretPath)
	current, err := s.Read(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	if !matches(current, expect) && !alreadyWritten(current, r) {
		return current, &Error{Sink: s.name, Op: "write", Path: dataPath, Kind: ErrConflict,
			Hint: "another writer changed the secret; read it again before writing"}
	}

	body := metadataFields(r)
	body[fieldName(t)] = r.Value.Reveal()
	err = s.auth.do(ctx, func() error {
		_, err := s.client.Logical().WriteWithContext(ctx, dataPath, body)
		return err
	})
	if err != nil {
		return Stored{}, s.fail("write", dataPath, err)
	}

	back, err := s.Read(ctx, t)
	if err != nil {
		return Stored{}, err
	}
	if !alreadyWritten(back, r) {
		return back, &Error{Sink: s.name, Op: "write", Path: dataPath, Kind: ErrConflict,
			Hint: "the secret read back differs from what was written; another writer uses it"}
	}
	return back, nil
}

// jsonInt reads a number that vault/api decoded as json.Number.
func jsonInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	}
	return 0
}
