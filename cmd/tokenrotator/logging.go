package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/lmittmann/tint"
)

// logFlags are the logging options shared by the commands that log.
type logFlags struct {
	format string
	level  string
}

func (f *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "log-format", "auto",
		"log `format`: auto (coloured text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&f.level, "log-level", "info", "minimum log `level`: debug, info, warn or error")
}

// newLogger returns the logger the flags ask for, writing to env.stderr.
func (f *logFlags) newLogger(env *environment) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", f.level)
	}
	return newLogger(env.stderr, strings.ToLower(f.format), level, env.isTerminal(env.stderr))
}

func newLogger(w io.Writer, format string, level slog.Level, terminal bool) (*slog.Logger, error) {
	switch format {
	case "auto":
		if terminal {
			return slog.New(tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly})), nil
		}
		return newJSONLogger(w, level), nil
	case "text":
		return slog.New(tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.RFC3339,
			NoColor: true})), nil
	case "json":
		return newJSONLogger(w, level), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: use auto, text or json", format)
}

// newJSONLogger logs JSON lines with durations as Go duration strings
// ("1.5s") instead of integer nanoseconds.
func newJSONLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				return slog.String(a.Key, a.Value.Duration().String())
			}
			return a
		},
	}))
}
