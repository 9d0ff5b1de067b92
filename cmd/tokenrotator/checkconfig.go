package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tokenrotator/tokenrotator/internal/config"
)

// defaultConfigPath is the policy file read when --config is not given.
const defaultConfigPath = "/etc/tokenrotator/config.yaml"

// sweepPreviewCount is how many upcoming sweep times check-config prints.
const sweepPreviewCount = 3

// checkConfigNow is the clock of check-config. Tests replace it.
// NOTE: it belongs in environment once other commands need a clock too.
var checkConfigNow = time.Now

func init() {
	register(command{
		name:    "check-config",
		summary: "validate the policy file and print what each token will get",
		order:   40,
		run:     runCheckConfig,
	})
}

// checkConfigFlags are the options of check-config.
type checkConfigFlags struct {
	configPath  string
	skipSecrets bool
	online      bool
}

// runCheckConfig loads the policy, prints its resolved settings and the
// next sweep times, and reads every secret it refers to. It returns
// exitUsage when the file or a secret reference is invalid.
func runCheckConfig(ctx context.Context, env *environment, args []string) int {
	fs := newFlagSet(env, "check-config", "[--config FILE] [--skip-secrets | --online]")
	var flags checkConfigFlags
	fs.StringVar(&flags.configPath, "config", defaultConfigPath, "policy `file` to check")
	fs.BoolVar(&flags.skipSecrets, "skip-secrets", false,
		"do not read the secrets the file refers to, to review a file away from its host")
	fs.BoolVar(&flags.online, "online", false,
		"also verify each management token with Cloudflare and resolve every token selector")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "check-config: unexpected argument %q; "+
			"pass the file with --config\n", fs.Arg(0))
		return exitUsage
	}
	if flags.online && flags.skipSecrets {
		fmt.Fprintln(env.stderr, "check-config: --online needs the secrets; drop --skip-secrets")
		return exitUsage
	}

	cfg, err := config.LoadFile(flags.configPath)
	if err != nil {
		printConfigErrors(env.stderr, "check-config", flags.configPath+" is invalid", err)
		return exitUsage
	}
	for _, warning := range cfg.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", warning.Error())
	}

	printConfigReport(env.stdout, cfg, checkConfigNow())

	// Each later step reports its own problems and lowers the result.
	code := exitOK
	if flags.skipSecrets {
		fmt.Fprintln(env.stdout, "\nSecrets: not read (--skip-secrets).")
	} else if !checkSecrets(env, cfg) {
		code = exitUsage
	}
	if flags.online && code == exitOK && !checkOnline(ctx, env, cfg) {
		code = exitUsage
	}
	return code
}

// printConfigErrors prints every problem in err under a heading.
func printConfigErrors(w io.Writer, command, heading string, err error) {
	var errs config.Errors
	if !errors.As(err, &errs) {
		fmt.Fprintf(w, "%s: %v\n", command, err)
		return
	}
	fmt.Fprintf(w, "%s: %s, %s:\n", command, heading, plural(len(errs), "problem"))
	for _, e := range errs {
		fmt.Fprintf(w, "  %s\n", e.Error())
	}
}

// checkSecrets reads every secret reference and reports the ones that
// cannot be read, never printing a value. It returns whether all were read.
func checkSecrets(env *environment, cfg *config.Config) bool {
	resolver := config.Resolver{Getenv: env.getenv, ReadFile: os.ReadFile}
	_, err := resolver.ResolveAll(cfg)
	if err == nil {
		fmt.Fprintf(env.stdout, "\nSecrets: %s readable.\n",
			plural(countSecretRefs(cfg), "reference"))
		return true
	}
	printConfigErrors(env.stderr, "check-config", "secrets of "+cfg.File+" cannot be read", err)
	return false
}

// countSecretRefs counts the secret references of cfg that are set.
func countSecretRefs(cfg *config.Config) int {
	count := 0
	if !cfg.AdminToken.IsZero() {
		count++
	}
	count += len(cfg.Accounts)
	for _, s := range cfg.Sinks {
		if s.Vault == nil {
			continue
		}
		for _, ref := range []config.SecretRef{s.Vault.Auth.Token, s.Vault.Auth.SecretID} {
			if !ref.IsZero() {
				count++
			}
		}
	}
	return count
}

// printConfigReport prints the resolved settings of cfg.
func printConfigReport(w io.Writer, cfg *config.Config, now time.Time) {
	fmt.Fprintf(w, "%s is valid: %s, %s, %s.\n", cfg.File,
		plural(len(cfg.Accounts), "account"), plural(len(cfg.Sinks), "sink"),
		plural(len(cfg.Tokens), "token"))

	fmt.Fprintln(w, "\nDaemon")
	table := newTable(w)
	fmt.Fprintf(table, "  schedule\t%s (zone %s)\n", cfg.Schedule.Text, cfg.Schedule.Location)
	fires := cfg.Schedule.NextN(now, sweepPreviewCount)
	for i, next := range fires {
		label := ""
		if i == 0 {
			label = "next sweeps"
		}
		text := formatFireTime(next)
		if len(fires) > 1 && fires[1].Sub(fires[0]) < time.Minute {
			// Sweeps less than a minute apart need the seconds to differ.
			text = next.Format("2006-01-02 15:04:05 MST")
		}
		fmt.Fprintf(table, "  %s\t%s\n", label, text)
	}
	fmt.Fprintf(table, "  sweep_timeout\t%s\n", config.FormatDuration(cfg.SweepTimeout))
	fmt.Fprintf(table, "  jitter\t%s\n", config.FormatDuration(cfg.Jitter))
	fmt.Fprintf(table, "  shutdown_grace\t%s\n", config.FormatDuration(cfg.ShutdownGrace))
	fmt.Fprintf(table, "  state_dir\t%s\n", cfg.StateDir)
	fmt.Fprintf(table, "  listen\t%s\n", cfg.Listen)
	if cfg.AdminToken.IsZero() {
		fmt.Fprintf(table, "  admin API\tdisabled (no admin_token)\n")
	} else {
		fmt.Fprintf(table, "  admin API\tenabled, token from %s\n", cfg.AdminToken)
	}
	table.Flush()

	printAccounts(w, cfg)
	printSinks(w, cfg)
	for _, token := range cfg.Tokens {
		printToken(w, cfg, token, now)
	}
}

func printAccounts(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "\nAccounts")
	table := newTable(w)
	for _, a := range cfg.Accounts {
		budget := "no client-side budget"
		if a.RequestBudget != nil {
			budget = fmt.Sprintf("at most %d requests per %s", a.RequestBudget.Requests,
				config.FormatDuration(a.RequestBudget.Per))
		}
		fmt.Fprintf(table, "  %s\t%s\t%s\ttoken from %s\t%s\n", a.Name, a.ID, a.BaseURL,
			a.APIToken, budget)
	}
	table.Flush()
}

func printSinks(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "\nSinks")
	table := newTable(w)
	for _, s := range cfg.Sinks {
		if s.File != nil {
			fmt.Fprintf(table, "  %s\tfile\t%s\tformat %s, mode %04o\n", s.Name, s.File.Dir,
				s.File.Format, uint32(s.File.Mode))
			continue
		}
		v := s.Vault
		details := fmt.Sprintf("mount %s, KV version %s, auth %s", v.Mount, v.KVVersion,
			describeVaultAuth(v.Auth))
		if v.Namespace != "" {
			details += ", namespace " + v.Namespace
		}
		if v.TLS.InsecureSkipVerify {
			details += ", TLS NOT VERIFIED"
		}
		fmt.Fprintf(table, "  %s\tvault\t%s\t%s\n", s.Name, v.Address, details)
	}
	table.Flush()
}

// describeVaultAuth summarizes a Vault login without any secret value.
func describeVaultAuth(auth config.VaultAuth) string {
	switch auth.Method {
	case config.AuthToken:
		return fmt.Sprintf("token from %s", auth.Token)
	case config.AuthAppRole:
		roleID := "role_id inline"
		if auth.RoleIDFile != "" {
			roleID = "role_id from " + auth.RoleIDFile
		}
		return fmt.Sprintf("approle at %s (%s, secret_id from %s)", auth.Mount, roleID,
			auth.SecretID)
	default:
		return fmt.Sprintf("kubernetes at %s (role %s, JWT from %s)", auth.Mount, auth.Role,
			auth.ServiceAccountTokenFile)
	}
}

// printToken prints one token's resolved policy and targets.
func printToken(w io.Writer, cfg *config.Config, token config.Token, now time.Time) {
	fmt.Fprintf(w, "\nToken %s/%s (line %d)\n", token.Account, token.Key, token.Line)
	table := newTable(w)
	p := token.Policy

	selector := fmt.Sprintf("name %q", token.Name)
	if token.ID != "" {
		selector = "id " + token.ID
	}
	fmt.Fprintf(table, "  selector\t%s in account %s (%s)\n", selector, token.Account,
		token.AccountID)
	fmt.Fprintf(table, "  strategy\t%s\n", p.Strategy)
	fmt.Fprintf(table, "  renew_before\t%s\n", durationOrOff(p.RenewBefore))
	fmt.Fprintf(table, "  max_age\t%s\n", durationOrOff(p.MaxAge))
	if p.RotationSchedule.IsZero() {
		fmt.Fprintf(table, "  rotation_schedule\toff\n")
	} else {
		fmt.Fprintf(table, "  rotation_schedule\t%s, next %s\n", p.RotationSchedule.Text,
			formatFireTime(p.RotationSchedule.Next(now)))
	}
	fmt.Fprintf(table, "  ttl\t%s\n", config.FormatDuration(p.TTL))
	if p.IdleAfter == 0 {
		fmt.Fprintf(table, "  idle_after\toff\n")
	} else {
		fmt.Fprintf(table, "  idle_after\t%s, then %s\n", config.FormatDuration(p.IdleAfter),
			p.IdleAction)
	}
	if p.Strategy == config.StrategyRecreate {
		fmt.Fprintf(table, "  grace_period\t%s\n", config.FormatDuration(p.GracePeriod))
	}
	for i, target := range token.Targets {
		label := ""
		if i == 0 {
			label = "targets"
		}
		fmt.Fprintf(table, "  %s\t%s\n", label, describeTarget(cfg, target))
	}
	table.Flush()
}

// describeTarget returns the sink of a target, the full Vault or file path
// it writes, and its field.
func describeTarget(cfg *config.Config, target config.Target) string {
	sink, _ := cfg.Sink(target.Sink)
	var where string
	switch {
	case sink.Vault != nil:
		where = fmt.Sprintf("%s: %s/%s", target.Sink, sink.Vault.Mount, target.Path)
	case sink.File != nil:
		where = fmt.Sprintf("%s: %s/%s", target.Sink, sink.File.Dir, target.Path)
	}
	if target.Field != "" {
		where += ", field " + target.Field
	}
	return where
}

// formatFireTime formats t in its own zone and in UTC.
func formatFireTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	const layout = "2006-01-02 15:04 MST (Mon)"
	local := t.Format(layout)
	if name, offset := t.Zone(); name == "UTC" && offset == 0 {
		return local
	}
	return fmt.Sprintf("%s = %s", local, t.UTC().Format(layout))
}

func durationOrOff(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return config.FormatDuration(d)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}
