package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := map[string]struct {
		text string
		want time.Duration
	}{
		"zero":            {"0", 0},
		"zero with unit":  {"0s", 0},
		"seconds":         {"90s", 90 * time.Second},
		"minutes":         {"15m", 15 * time.Minute},
		"hours":           {"720h", 720 * time.Hour},
		"days":            {"30d", 30 * 24 * time.Hour},
		"weeks":           {"2w", 14 * 24 * time.Hour},
		"weeks and days":  {"1w2d", 9 * 24 * time.Hour},
		"hours, minutes":  {"36h30m", 36*time.Hour + 30*time.Minute},
		"days and hours":  {"1d12h", 36 * time.Hour},
		"fraction of day": {"1.5d", 36 * time.Hour},
		"milliseconds":    {"250ms", 250 * time.Millisecond},
		"microseconds":    {"5us", 5 * time.Microsecond},
		"micro sign":      {"5µs", 5 * time.Microsecond},
		"every unit":      {"1w1d1h1m1s", 8*24*time.Hour + time.Hour + time.Minute + time.Second},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDuration(tt.text)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.text, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := map[string]struct {
		text string
		want string
	}{
		"bare number":      {"30", "missing unit"},
		"trailing number":  {"1h30", "missing unit"},
		"negative":         {"-1h", "never negative"},
		"plus sign":        {"+1h", "never negative"},
		"empty":            {"", "empty duration"},
		"unknown unit":     {"3x", `unknown unit "x"`},
		"month":            {"1mo", `unknown unit "mo"`},
		"space":            {"1h 30m", `unknown unit "h "`},
		"words":            {"soon", "expected a number"},
		"two dots":         {"1.2.3d", "invalid number"},
		"overflow in days": {"200000w", "longer than about 292 years"},
		"overflow summed":  {"2540400h2540400h", "longer than about 292 years"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDuration(tt.text)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.text, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseDuration(%q) error = %q, want it to contain %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestParseDurationNoUnitIsMarked(t *testing.T) {
	_, err := ParseDuration("30")
	if !errors.Is(err, errNoUnit) {
		t.Errorf("error = %v, want errNoUnit", err)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[string]struct {
		in   time.Duration
		want string
	}{
		"zero":              {0, "0s"},
		"seconds":           {30 * time.Second, "30s"},
		"minutes":           {10 * time.Minute, "10m"},
		"hour":              {time.Hour, "1h"},
		"hours and minutes": {90 * time.Minute, "1h30m"},
		"day":               {24 * time.Hour, "1d"},
		"ninety days":       {90 * 24 * time.Hour, "90d"},
		"days and rest":     {36*time.Hour + 30*time.Minute, "1d12h30m"},
		"days and seconds":  {24*time.Hour + 5*time.Second, "1d5s"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := FormatDuration(tt.in)
			if got != tt.want {
				t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseDuration(got)
			if err != nil || back != tt.in {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, tt.in)
			}
		})
	}
}
