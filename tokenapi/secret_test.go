package tokenapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const sentinel = "cfat_SENTINELsentinelSENTINELsentinel0123456789"

type holder struct {
	Name  string
	Value Secret
	Ptr   *Secret
}

func TestSecretRedactsEveryPrintingPath(t *testing.T) {
	s := NewSecret(sentinel)
	h := holder{Name: "dns", Value: s, Ptr: &s}

	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", s),
		"%+v":        fmt.Sprintf("%+v", s),
		"%#v":        fmt.Sprintf("%#v", s),
		"%s":         fmt.Sprintf("%s", s),
		"%q":         fmt.Sprintf("%q", s),
		"%x":         fmt.Sprintf("%x", s),
		"%X":         fmt.Sprintf("%X", s),
		"%d":         fmt.Sprintf("%d", s),
		"struct %v":  fmt.Sprintf("%v", h),
		"struct %+v": fmt.Sprintf("%+v", h),
		"struct %#v": fmt.Sprintf("%#v", h),
		"String":     s.String(),
		"GoString":   s.GoString(),
		"error":      fmt.Errorf("roll: %v", s).Error(),
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	txt, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	outputs["text"] = string(txt)

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "holder", h)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s, "ptr", &s)
	outputs["slog"] = logs.String()

	for name, out := range outputs {
		if strings.Contains(out, sentinel) || strings.Contains(out, "SENTINEL") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s does not show %s: %s", name, redacted, out)
		}
	}
}

func TestSecretRevealReturnsValue(t *testing.T) {
	s := NewSecret(sentinel)
	if got := s.Reveal(); got != sentinel {
		t.Errorf("Reveal() = %q, want the value", got)
	}
	if s.IsZero() {
		t.Error("IsZero() = true for a set secret")
	}
	if !s.Equal(NewSecret(sentinel)) {
		t.Error("Equal() = false for the same value")
	}
}

func TestSecretZeroPrintsEmpty(t *testing.T) {
	var s Secret
	if !s.IsZero() {
		t.Error("IsZero() = false for the zero secret")
	}
	if got := s.String(); got != "" {
		t.Errorf("String() = %q, want empty", got)
	}
}
