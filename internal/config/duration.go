package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day and Week are the duration units that the configuration adds to Go's.
// A day is always 24 hours here, also across a daylight saving change.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// errNoUnit marks a bare number, so the loader can tell the user to add a unit.
var errNoUnit = errors.New("missing unit")

// ParseDuration parses a duration such as "30d", "1w2d", "36h30m" or "90s".
// It accepts Go's units (ns, us, µs, ms, s, m, h) plus d (24h) and w (7d),
// in any combination and with decimal fractions. A bare "0" is zero. Any
// other number without a unit, a sign and an empty string are errors.
func ParseDuration(text string) (time.Duration, error) {
	if text == "0" {
		return 0, nil
	}
	if text == "" {
		return 0, errors.New("empty duration")
	}
	if text[0] == '-' || text[0] == '+' {
		return 0, fmt.Errorf("duration %q has a sign; durations are never negative", text)
	}

	var total time.Duration
	rest := text
	for rest != "" {
		number, unit, remaining := splitDurationPart(rest)
		if number == "" {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q", text, rest)
		}
		if unit == "" {
			return 0, fmt.Errorf("invalid duration %q: %w", text, errNoUnit)
		}
		part, err := durationPart(number, unit)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", text, err)
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("invalid duration %q: longer than about 292 years", text)
		}
		total += part
		rest = remaining
	}
	return total, nil
}

// splitDurationPart splits "1.5d12h" into "1.5", "d" and "12h".
func splitDurationPart(text string) (number, unit, rest string) {
	i := 0
	for i < len(text) && (text[i] == '.' || (text[i] >= '0' && text[i] <= '9')) {
		i++
	}
	j := i
	for j < len(text) && text[j] != '.' && (text[j] < '0' || text[j] > '9') {
		j++
	}
	return text[:i], text[i:j], text[j:]
}

// durationPart converts one number and unit, leaving Go's units to
// time.ParseDuration so that fractions round the way Go rounds them.
func durationPart(number, unit string) (time.Duration, error) {
	var scale time.Duration
	switch unit {
	case "d":
		scale = Day
	case "w":
		scale = Week
	case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		return time.ParseDuration(number + unit)
	default:
		return 0, fmt.Errorf("unknown unit %q (use ns, us, ms, s, m, h, d or w)", unit)
	}

	value, err := strconv.ParseFloat(number, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", number)
	}
	hours := value * float64(scale/time.Hour)
	if hours*float64(time.Hour) >= math.MaxInt64 {
		return 0, errors.New("longer than about 292 years")
	}
	return time.Duration(math.Round(hours * float64(time.Hour))), nil
}

// FormatDuration prints d in the units ParseDuration reads, with whole days
// split off: 2160h prints as "90d" and 36h30m as "1d12h30m". Zero prints as
// "0s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	days := d / Day
	rest := d % Day
	if days == 0 {
		return trimZeroUnits(rest.String())
	}
	if rest == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + trimZeroUnits(rest.String())
}

// trimZeroUnits turns Go's "1h0m0s" into "1h" and "2m0s" into "2m".
func trimZeroUnits(text string) string {
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	if strings.HasSuffix(text, "h0m") {
		text = strings.TrimSuffix(text, "0m")
	}
	return text
}
