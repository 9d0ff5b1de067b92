package config

import (
	"strings"
	"testing"
	"time"
)

// mustLocation loads a zone or stops the test.
func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// assertTimes compares fire times as instants and prints both lists on a mismatch.
func assertTimes(t *testing.T, got, want []time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d times %v, want %d times %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("time %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestScheduleFiveFieldsDaily(t *testing.T) {
	s, err := ParseSchedule("CRON_TZ=UTC 30 6 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, time.May, 4, 6, 30, 0, 0, time.UTC)
	assertTimes(t, s.NextN(from, 3), []time.Time{
		time.Date(2026, time.May, 5, 6, 30, 0, 0, time.UTC),
		time.Date(2026, time.May, 6, 6, 30, 0, 0, time.UTC),
		time.Date(2026, time.May, 7, 6, 30, 0, 0, time.UTC),
	})
}

func TestScheduleZonePrefixes(t *testing.T) {
	berlin := mustLocation(t, "Europe/Berlin")
	from := time.Date(2026, time.January, 15, 12, 0, 0, 0, time.UTC)
	want := time.Date(2026, time.January, 16, 6, 30, 0, 0, berlin)
	for _, spec := range []string{
		"CRON_TZ=Europe/Berlin 30 6 * * *",
		"TZ=Europe/Berlin 30 6 * * *",
		"  CRON_TZ=Europe/Berlin   30 6 * * *  ",
	} {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Fatalf("ParseSchedule(%q): %v", spec, err)
		}
		if s.Location.String() != "Europe/Berlin" {
			t.Errorf("%q: location = %v, want Europe/Berlin", spec, s.Location)
		}
		if s.Text != spec {
			t.Errorf("%q: text = %q, want the spec as written", spec, s.Text)
		}
		if got := s.Next(from); !got.Equal(want) || got.Location().String() != "Europe/Berlin" {
			t.Errorf("%q: next = %v, want %v in Europe/Berlin", spec, got, want)
		}
	}
}

func TestScheduleWithoutZoneIsLocal(t *testing.T) {
	s, err := ParseSchedule("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	if s.Location != time.Local {
		t.Errorf("location = %v, want time.Local", s.Location)
	}
}

func TestScheduleDescriptors(t *testing.T) {
	from := time.Date(2026, time.May, 4, 10, 17, 0, 0, time.UTC)
	tests := map[string]time.Time{
		"CRON_TZ=UTC @hourly":  time.Date(2026, time.May, 4, 11, 0, 0, 0, time.UTC),
		"CRON_TZ=UTC @daily":   time.Date(2026, time.May, 5, 0, 0, 0, 0, time.UTC),
		"CRON_TZ=UTC @weekly":  time.Date(2026, time.May, 10, 0, 0, 0, 0, time.UTC),
		"CRON_TZ=UTC @monthly": time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC),
		"@every 10m":           from.Add(10 * time.Minute),
		"@every 1d":            from.Add(24 * time.Hour),
	}
	for spec, want := range tests {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(want) {
			t.Errorf("%q: next = %v, want %v", spec, got, want)
		}
	}
}

// On 2026-03-29 Berlin clocks jump from 02:00 to 03:00, and on 2026-10-25
// they go back from 03:00 to 02:00. robfig/cron v3.0.1 skips a fire time
// that falls into the missing hour and fires twice in the repeated hour.
// The rotator decides from token state, not from fire counts, so it still
// rotates once.
func TestScheduleBerlinDaylightSaving(t *testing.T) {
	berlin := mustLocation(t, "Europe/Berlin")
	s, err := ParseSchedule("CRON_TZ=Europe/Berlin 30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("spring forward skips the missing time", func(t *testing.T) {
		from := time.Date(2026, time.March, 28, 3, 0, 0, 0, berlin)
		assertTimes(t, s.NextN(from, 2), []time.Time{
			time.Date(2026, time.March, 30, 0, 30, 0, 0, time.UTC),
			time.Date(2026, time.March, 31, 0, 30, 0, 0, time.UTC),
		})
	})
	t.Run("fall back fires in both hours", func(t *testing.T) {
		from := time.Date(2026, time.October, 24, 23, 0, 0, 0, time.UTC)
		assertTimes(t, s.NextN(from, 3), []time.Time{
			time.Date(2026, time.October, 25, 0, 30, 0, 0, time.UTC), // 02:30 CEST
			time.Date(2026, time.October, 25, 1, 30, 0, 0, time.UTC), // 02:30 CET
			time.Date(2026, time.October, 26, 1, 30, 0, 0, time.UTC),
		})
	})
	t.Run("fixed hour after the jump keeps its wall time", func(t *testing.T) {
		daily, err := ParseSchedule("CRON_TZ=Europe/Berlin 0 3 * * *")
		if err != nil {
			t.Fatal(err)
		}
		from := time.Date(2026, time.March, 28, 12, 0, 0, 0, time.UTC)
		assertTimes(t, daily.NextN(from, 2), []time.Time{
			time.Date(2026, time.March, 29, 1, 0, 0, 0, time.UTC), // 03:00 CEST
			time.Date(2026, time.March, 30, 1, 0, 0, 0, time.UTC),
		})
	})
}

func TestScheduleLeapDayFires(t *testing.T) {
	s, err := ParseSchedule("CRON_TZ=UTC 0 0 29 2 *")
	if err != nil {
		t.Fatalf("a February 29 spec was rejected: %v", err)
	}
	from := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	want := time.Date(2028, time.February, 29, 0, 0, 0, 0, time.UTC)
	if got := s.Next(from); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := map[string]struct {
		spec string
		want string
	}{
		"seconds field":     {"0 30 2 * * *", "seconds are not supported"},
		"four fields":       {"30 2 * *", "has 4 fields"},
		"empty":             {"", "empty cron spec"},
		"never fires":       {"0 0 30 2 *", "never fires"},
		"never fires 31st":  {"0 0 31 4,6,9,11 *", "never fires"},
		"unknown zone":      {"CRON_TZ=Mars/Olympus 0 * * * *", `unknown time zone "Mars/Olympus"`},
		"zone only":         {"CRON_TZ=Europe/Berlin", "write the zone, a space"},
		"empty zone":        {"TZ= 0 * * * *", "write the zone, a space"},
		"two zones":         {"CRON_TZ=UTC TZ=Europe/Berlin 0 * * * *", "more than one zone"},
		"bad minute":        {"61 * * * *", "61"},
		"bad descriptor":    {"@fortnightly", "unrecognized descriptor"},
		"every too short":   {"@every 9s", "shorter than the minimum of 10s"},
		"every no unit":     {"@every 10", "add a unit"},
		"every fraction":    {"@every 1.0001m", "not a whole number of seconds"},
		"every no interval": {"@every", "empty duration"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSchedule(tt.spec)
			if err == nil {
				t.Fatalf("ParseSchedule(%q) succeeded, want an error", tt.spec)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGuardedParseRecoversPanic(t *testing.T) {
	// robfig/cron v3.0.1 slices the spec with index -1 when a TZ prefix has
	// no space after it, which panics.
	_, err := guardedParse("TZ=Europe/Berlin")
	if err == nil || !strings.Contains(err.Error(), "parser panicked") {
		t.Errorf("error = %v, want the recovered panic", err)
	}
}

func TestScheduleZeroValue(t *testing.T) {
	var s Schedule
	if !s.IsZero() {
		t.Error("zero Schedule is not IsZero")
	}
	if got := s.Next(time.Now()); !got.IsZero() {
		t.Errorf("Next = %v, want the zero time", got)
	}
	if got := s.NextN(time.Now(), 3); len(got) != 0 {
		t.Errorf("NextN = %v, want none", got)
	}
}
