package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ zones must resolve on images without /usr/share/zoneinfo.

	"github.com/robfig/cron/v3"
)

// minEvery is the shortest "@every" interval. A sweep lists every page of
// an account's tokens (at most 10 pages for the 500-token maximum), so
// sweeps every 10 seconds stay at 300 list requests per 5 minutes, a
// quarter of Cloudflare's limit of 1,200.
const minEvery = 10 * time.Second

// cronParser reads the standard five fields (minute, hour, day of month,
// month, day of week) and descriptors such as @daily.
var cronParser = cron.NewParser(
	cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor,
)

// neverFiresFrom is the fixed start of the "does this spec ever fire" check,
// so that loading stays a pure function of the file. robfig/cron searches
// five years ahead, and every five-field spec that fires at all fires within
// any five years (February 29 included), so the start does not matter.
var neverFiresFrom = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Schedule is a parsed cron spec.
type Schedule struct {
	// Text is the spec as written in the file, time zone prefix included.
	Text string
	// Cron computes the fire times. Call Schedule.Next rather than Cron.Next,
	// so that a spec without a zone uses Location.
	Cron cron.Schedule
	// Location is the zone of the CRON_TZ or TZ prefix, or time.Local.
	Location *time.Location
}

// IsZero reports whether no schedule is set.
func (s Schedule) IsZero() bool {
	return s.Cron == nil
}

// Next returns the first fire time after t, in the schedule's zone, or the
// zero time when the schedule is not set.
func (s Schedule) Next(t time.Time) time.Time {
	if s.Cron == nil {
		return time.Time{}
	}
	if s.Location != nil {
		t = t.In(s.Location)
	}
	return s.Cron.Next(t)
}

// NextN returns the next n fire times after t.
func (s Schedule) NextN(t time.Time, n int) []time.Time {
	times := make([]time.Time, 0, n)
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		times = append(times, t)
	}
	return times
}

// ParseSchedule parses a cron spec: five fields (minute hour day-of-month
// month day-of-week), or a descriptor (@yearly, @monthly, @weekly, @daily,
// @hourly, @every DURATION), optionally after "CRON_TZ=Zone " or "TZ=Zone ".
// Without a zone prefix the spec runs in the local time zone. A spec with a
// seconds field, an unknown zone, an "@every" shorter than a minute and a
// spec that never fires are errors.
func ParseSchedule(text string) (Schedule, error) {
	spec := strings.TrimSpace(text)
	if spec == "" {
		return Schedule{}, errors.New("empty cron spec")
	}

	location := time.Local
	if zone, rest, ok := cutZonePrefix(spec); ok {
		if zone == "" || rest == "" {
			return Schedule{}, fmt.Errorf("cron spec %q: write the zone, a space and then the "+
				"schedule, as in \"CRON_TZ=Europe/Berlin 30 6 * * *\"", text)
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return Schedule{}, fmt.Errorf("cron spec %q: unknown time zone %q; use an IANA "+
				"name such as Europe/Berlin or UTC", text, zone)
		}
		location = loc
		spec = rest
		if _, _, again := cutZonePrefix(spec); again {
			return Schedule{}, fmt.Errorf("cron spec %q has more than one zone prefix", text)
		}
	}

	schedule, err := parseCronSpec(spec, location)
	if err != nil {
		return Schedule{}, fmt.Errorf("cron spec %q: %w", text, err)
	}
	parsed := Schedule{Text: text, Cron: schedule, Location: location}
	if parsed.Next(neverFiresFrom).IsZero() {
		return Schedule{}, fmt.Errorf("cron spec %q never fires; check the day of month "+
			"against the month", text)
	}
	return parsed, nil
}

// cutZonePrefix splits "CRON_TZ=Europe/Berlin 30 6 * * *" into the zone and
// the rest.
func cutZonePrefix(spec string) (zone, rest string, ok bool) {
	var after string
	switch {
	case strings.HasPrefix(spec, "CRON_TZ="):
		after = strings.TrimPrefix(spec, "CRON_TZ=")
	case strings.HasPrefix(spec, "TZ="):
		after = strings.TrimPrefix(spec, "TZ=")
	default:
		return "", "", false
	}
	zone, rest, _ = strings.Cut(after, " ")
	return zone, strings.TrimSpace(rest), true
}

// parseCronSpec parses spec without its zone prefix and places it in
// location.
func parseCronSpec(spec string, location *time.Location) (schedule cron.Schedule, err error) {
	if every, ok := strings.CutPrefix(spec, "@every"); ok {
		return parseEvery(every)
	}
	if strings.HasPrefix(spec, "@") {
		return parseDescriptor(spec, location)
	}

	switch fields := strings.Fields(spec); {
	case len(fields) == 6:
		return nil, errors.New("has 6 fields, but seconds are not supported; use the 5 fields " +
			"minute hour day-of-month month day-of-week")
	case len(fields) != 5:
		return nil, fmt.Errorf("has %d fields; use the 5 fields minute hour day-of-month "+
			"month day-of-week, or a descriptor such as @daily", len(fields))
	}

	parsed, err := guardedParse(spec)
	if err != nil {
		return nil, err
	}
	specSchedule, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unexpected schedule type %T", parsed)
	}
	specSchedule.Location = location
	return specSchedule, nil
}

// parseDescriptor parses @daily and its kind, which robfig/cron turns into
// a SpecSchedule.
func parseDescriptor(spec string, location *time.Location) (cron.Schedule, error) {
	parsed, err := guardedParse(spec)
	if err != nil {
		return nil, err
	}
	if specSchedule, ok := parsed.(*cron.SpecSchedule); ok {
		specSchedule.Location = location
	}
	return parsed, nil
}

// parseEvery parses the interval of "@every 10m" with ParseDuration, so that
// "@every 1d" works like the other durations in the file.
func parseEvery(text string) (cron.Schedule, error) {
	text = strings.TrimSpace(text)
	interval, err := ParseDuration(text)
	if errors.Is(err, errNoUnit) {
		return nil, fmt.Errorf("@every %s: add a unit, as in \"@every 15m\"", text)
	}
	if err != nil {
		return nil, fmt.Errorf("@every: %w", err)
	}
	if interval < minEvery {
		return nil, fmt.Errorf("@every %s is shorter than the minimum of 10s", text)
	}
	if interval%time.Second != 0 {
		return nil, fmt.Errorf("@every %s is not a whole number of seconds", text)
	}
	return cron.Every(interval), nil
}

// guardedParse runs the robfig/cron parser and turns a panic into an error:
// version 3.0.1 panics on some malformed zone prefixes.
func guardedParse(spec string) (schedule cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			schedule = nil
			err = fmt.Errorf("malformed spec (the parser panicked: %v)", r)
		}
	}()
	return cronParser.Parse(spec)
}
