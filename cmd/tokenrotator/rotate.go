package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/app"
	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/rotator"
)

func init() {
	register(command{
		name:    "once",
		summary: "run one sweep: finish what the journal owes, then rotate every due token",
		order:   20,
		run:     runOnce,
	})
	register(command{
		name:    "rotate",
		summary: "rotate one token now, if it is due or --force is given",
		order:   30,
		run:     runRotate,
	})
	register(command{
		name:    "plan",
		summary: "show what a sweep would do for each token, changing nothing",
		order:   35,
		run:     runPlan,
	})
}

// policyFlags are the options of the commands that act on a policy file.
type policyFlags struct {
	configPath string
	stateDir   string
	log        logFlags
}

func (f *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configPath, "config", defaultConfigPath, "policy `file`")
	fs.StringVar(&f.stateDir, "state-dir", "", "state `directory` for the journal; overrides state_dir")
}

// loadApp loads the policy file and builds the rotator. On failure it
// prints every problem and returns the exit code to use.
func loadApp(env *environment, name string, flags *policyFlags, logger *slog.Logger,
	readOnly bool) (*app.App, int) {
	cfg, err := config.LoadFile(flags.configPath)
	if errors.Is(err, iofs.ErrNotExist) {
		fmt.Fprintf(env.stderr, "%s: %v; pass the policy file with --config\n", name, err)
		return nil, exitUsage
	}
	if err != nil {
		printConfigErrors(env.stderr, name, flags.configPath+" is invalid", err)
		return nil, exitUsage
	}
	for _, warning := range cfg.Warnings {
		logger.Warn("policy warning", "warning", warning.Error())
	}
	a, err := app.Build(cfg, app.Options{
		Getenv: env.getenv, StateDir: flags.stateDir, ReadOnly: readOnly, Logger: logger,
	})
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			printConfigErrors(env.stderr, name, "secrets of "+cfg.File+" cannot be read", err)
			return nil, exitUsage
		}
		fmt.Fprintf(env.stderr, "%s: %v\n", name, err)
		return nil, exitFailure
	}
	return a, exitOK
}

// runOnce runs one sweep and exits 0 when everything is in order, 1 when a
// token failed or something is still owed, and 2 on a bad policy.
func runOnce(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "once", "[--config FILE] [--state-dir DIR]")
	var flags policyFlags
	flags.register(fs)
	flags.log.register(fs)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "once: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	logger, err := flags.log.newLogger(env)
	if err != nil {
		fmt.Fprintf(env.stderr, "once: %v\n", err)
		return exitUsage
	}

	a, code := loadApp(env, "once", &flags, logger, false)
	if a == nil {
		return code
	}
	defer a.Close()

	ctx, cancel := context.WithTimeout(ctx, a.Config.SweepTimeout)
	defer cancel()
	rep := a.Rotator.Sweep(ctx)
	printSweep(env.stdout, rep)
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}

// runRotate rotates one token now.
func runRotate(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "rotate", "[--config FILE] [--state-dir DIR] [--force] [ACCOUNT/]TOKEN")
	var flags policyFlags
	flags.register(fs)
	flags.log.register(fs)
	force := fs.Bool("force", false, "rotate even if the token is not due")
	tokens, code, stop := parseInterleaved(fs, args)
	if stop {
		return code
	}
	if len(tokens) != 1 {
		fmt.Fprintf(env.stderr, "rotate: name exactly one token (got %d), by its name or id in "+
			"the policy, or as ACCOUNT/NAME\n", len(tokens))
		return exitUsage
	}
	logger, err := flags.log.newLogger(env)
	if err != nil {
		fmt.Fprintf(env.stderr, "rotate: %v\n", err)
		return exitUsage
	}

	a, code := loadApp(env, "rotate", &flags, logger, false)
	if a == nil {
		return code
	}
	defer a.Close()

	ctx, cancel := context.WithTimeout(ctx, a.Config.SweepTimeout)
	defer cancel()
	rep, err := a.Rotator.Rotate(ctx, tokens[0], *force)
	if errors.Is(err, rotator.ErrUnknownToken) || errors.Is(err, rotator.ErrAmbiguousToken) {
		fmt.Fprintln(env.stderr, err)
		return exitUsage
	}
	printSweep(env.stdout, rep)
	for _, t := range rep.Tokens {
		if !t.Decision.Due() && t.Decision.Err == nil {
			fmt.Fprintf(env.stdout, "%s is not due; add --force to rotate it anyway\n", t.Decision.Policy.Key)
		}
	}
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}

// printSweep prints one line per token and what the journal still owes.
func printSweep(w io.Writer, rep *rotator.Report) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ACCOUNT\tTOKEN\tTOKEN ID\tDECISION\tRESULT\tDETAIL")
	for _, t := range rep.Tokens {
		d := t.Decision
		id := ""
		if d.Token != nil {
			id = d.Token.ID
		}
		if t.NewTokenID != "" && t.NewTokenID != id {
			id += " -> " + t.NewTokenID
		}
		detail := d.ReasonText()
		if err := firstError(d.Err, t.Err); err != nil {
			detail = err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Policy.Account, d.Policy.Key, dash(id),
			d.Action, dash(string(t.Result)), dash(detail))
	}
	tw.Flush()
	for _, r := range rep.Replayed {
		detail := "stored"
		if r.Err != nil {
			detail = r.Err.Error()
		}
		fmt.Fprintf(w, "journal: %s of %s/%s (%s): %s: %s\n", r.What, r.Account, r.TokenKey,
			r.TokenID, r.Result, detail)
	}
	for _, err := range rep.Errors {
		fmt.Fprintf(w, "error: %v\n", err)
	}
	fmt.Fprintf(w, "%s unsaved, %s pending (%d overdue).\n", plural(rep.Unsaved, "value"),
		plural(rep.RevocationsPending, "revocation"), rep.RevocationsOverdue)
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runPlan prints the decision for every token and changes nothing. It
// exits 2 when a token is in error, 1 with --detailed-exitcode when
// rotations are pending, and 0 otherwise.
func runPlan(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "plan",
		"[--config FILE] [--state-dir DIR] [--output table|json] [--detailed-exitcode]")
	var flags policyFlags
	flags.register(fs)
	flags.log.register(fs)
	output := fs.String("output", "table", "output `format`: table or json")
	detailed := fs.Bool("detailed-exitcode", false,
		"exit 1 when rotations are pending, 2 on errors, 0 when nothing is due")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(env.stderr, "plan: invalid --output %q: use table or json\n", *output)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "plan: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if flags.log.level == "info" {
		// Plan output is the product; log only what goes wrong.
		flags.log.level = "warn"
	}
	logger, err := flags.log.newLogger(env)
	if err != nil {
		fmt.Fprintf(env.stderr, "plan: %v\n", err)
		return exitUsage
	}

	a, _ := loadApp(env, "plan", &flags, logger, true)
	if a == nil {
		// Exit 1 means "rotations pending" for plan, so every failure to
		// start is 2.
		return exitUsage
	}
	defer a.Close()

	ctx, cancel := context.WithTimeout(ctx, a.Config.SweepTimeout)
	defer cancel()
	rep := a.Rotator.Plan(ctx)
	rows := planRows(rep)
	summary := planSummary{Unsaved: rep.Unsaved, RevocationsPending: rep.RevocationsPending,
		RevocationsOverdue: rep.RevocationsOverdue}
	if *output == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintf(env.stderr, "plan: %v\n", err)
			return exitFailure
		}
	} else {
		printPlan(env.stdout, rows, summary)
	}

	for _, r := range rows {
		if r.Error != "" {
			return exitUsage
		}
	}
	if *detailed && rep.Pending() > 0 {
		return exitFailure
	}
	return exitOK
}

// planRow is one token of plan output. Its JSON form is stable for
// machines: times are RFC 3339 in UTC, or null when unset.
type planRow struct {
	Account      string     `json:"account"`
	Token        string     `json:"token"`
	Name         string     `json:"name"`
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	ExpiresOn    *time.Time `json:"expires_on"`
	LastUsedOn   *time.Time `json:"last_used_on"`
	LastRotated  *time.Time `json:"last_rotated"`
	RotatedFrom  string     `json:"last_rotated_source"`
	Decision     string     `json:"decision"`
	Reasons      []string   `json:"reasons"`
	NextDue      *time.Time `json:"next_due"`
	Idle         bool       `json:"idle"`
	Error        string     `json:"error,omitempty"`
	ErrorKind    string     `json:"error_kind,omitempty"`
	UnsavedValue bool       `json:"unsaved_value"`
}

func planRows(rep *rotator.Report) []planRow {
	rows := make([]planRow, 0, len(rep.Tokens))
	for _, t := range rep.Tokens {
		d := t.Decision
		row := planRow{
			Account: d.Policy.Account, Token: d.Policy.Key, Name: d.Policy.Name, ID: d.Policy.ID,
			Decision: string(d.Action), LastRotated: timeOrNil(d.LastRotated),
			RotatedFrom: string(d.LastRotatedSource), NextDue: timeOrNil(d.NextDue), Idle: d.Idle,
			Reasons: []string{}, UnsavedValue: d.ErrKind == rotator.ErrUnsavedSecret,
		}
		for _, r := range d.Reasons {
			row.Reasons = append(row.Reasons, string(r))
		}
		if tok := d.Token; tok != nil {
			row.ID, row.Name, row.Status = tok.ID, tok.Name, string(tok.Status)
			if v, ok := tok.ExpiresOn.Time(); ok {
				row.ExpiresOn = timeOrNil(v)
			}
			if v, ok := tok.LastUsedOn.Time(); ok {
				row.LastUsedOn = timeOrNil(v)
			}
		}
		if d.Err != nil {
			row.Error = d.Err.Error()
			row.ErrorKind = string(d.ErrKind)
		}
		rows = append(rows, row)
	}
	return rows
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	utc := t.UTC()
	return &utc
}

// planSummary counts the journal's unfinished work, shown under the plan table.
type planSummary struct {
	Unsaved, RevocationsPending, RevocationsOverdue int
}

func printPlan(w io.Writer, rows []planRow, owed planSummary) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ACCOUNT\tTOKEN\tID\tSTATUS\tEXPIRES ON\tLAST USED\tLAST ROTATED\tDECISION\tNEXT DUE\tREASONS")
	pending := 0
	for _, r := range rows {
		reasons := strings.Join(r.Reasons, ", ")
		if r.Idle {
			reasons = strings.TrimPrefix(reasons+", idle", ", ")
		}
		never := "never"
		if r.Status == "" {
			// The token was not read, so its times are unknown.
			never = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Token, dash(r.ID),
			dash(r.Status), planTime(r.ExpiresOn, never), planTime(r.LastUsedOn, never),
			planTime(r.LastRotated, "unknown"), r.Decision, planTime(r.NextDue, "-"), dash(reasons))
		if rotator.Action(r.Decision).Mutates() {
			pending++
		}
	}
	tw.Flush()
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(w, "\nerror: %s/%s: %s\n", r.Account, r.Token, r.Error)
		}
	}
	fmt.Fprintf(w, "\n%s to rotate or disable, %d in error.\n", plural(pending, "token"), countErrors(rows))
	fmt.Fprintf(w, "Journal: %s unsaved, %s pending (%d overdue).\n",
		plural(owed.Unsaved, "value"), plural(owed.RevocationsPending, "revocation"),
		owed.RevocationsOverdue)
}

func countErrors(rows []planRow) int {
	n := 0
	for _, r := range rows {
		if r.Error != "" {
			n++
		}
	}
	return n
}

func planTime(t *time.Time, unset string) string {
	if t == nil {
		return unset
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}
