package deploy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokenrotator/tokenrotator/internal/config"
	"github.com/tokenrotator/tokenrotator/tokenapi/emulator"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	var compose composeFile
	if err := yaml.Unmarshal(readFile(t, "deploy/compose/compose.yaml"), &compose); err != nil {
		t.Fatalf("parse compose.yaml: %v", err)
	}
	dir := filepath.Join(repoRoot(t), "deploy", "compose")

	for _, name := range []string{"emulator", "vault", "tokenrotator", "prometheus", "grafana"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("compose.yaml has no service %s", name)
		}
	}
	// tokenrotator reaches the emulator through the shared loopback, so the
	// emulator needs no address beyond it.
	if slices.Contains(compose.Services["emulator"].Command, "--allow-remote") {
		t.Error("the emulator command has --allow-remote; it shares tokenrotator's network " +
			"namespace and should listen on 127.0.0.1 only")
	}
	for name, service := range compose.Services {
		for _, port := range service.Ports {
			if !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond 127.0.0.1", name, port)
			}
		}
		for _, volume := range service.Volumes {
			source, _, _ := strings.Cut(volume, ":")
			if !strings.HasPrefix(source, ".") {
				if _, ok := compose.Volumes[source]; !ok {
					t.Errorf("service %s uses undeclared volume %s", name, source)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, source)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, source, err)
			}
		}
	}
}

func TestComposePolicyLoads(t *testing.T) {
	cfg, err := config.Load("compose tokenrotator.yaml", readFile(t, "deploy/compose/tokenrotator.yaml"))
	if err != nil {
		t.Fatalf("the compose policy does not load:\n%v", err)
	}

	if cfg.Listen != "0.0.0.0:9464" {
		t.Errorf("listen = %q, want 0.0.0.0:9464 so that Prometheus reaches it", cfg.Listen)
	}
}

func TestComposeEmulatorSeedLoads(t *testing.T) {
	e := emulator.New(emulator.Options{})

	if err := e.LoadSeed(readFile(t, "deploy/compose/emulator-seed.yaml")); err != nil {
		t.Fatalf("the emulator seed does not load: %v", err)
	}
}

// TestComposeEmulatorCommand runs the compose file's emulator command with a
// binary built from this tree, a free loopback port and the mounted seed
// file. The policy's management token must then list the seeded token.
func TestComposeEmulatorCommand(t *testing.T) {
	var compose composeFile
	if err := yaml.Unmarshal(readFile(t, "deploy/compose/compose.yaml"), &compose); err != nil {
		t.Fatalf("parse compose.yaml: %v", err)
	}
	service := compose.Services["emulator"]
	cfg, err := config.Load("compose tokenrotator.yaml", readFile(t, "deploy/compose/tokenrotator.yaml"))
	if err != nil {
		t.Fatalf("the compose policy does not load:\n%v", err)
	}
	account := cfg.Accounts[0]
	base, err := url.Parse(account.BaseURL)
	if err != nil {
		t.Fatal(err)
	}

	// Map the container paths of the mounted files to the files here.
	hostPaths := map[string]string{}
	for _, volume := range service.Volumes {
		parts := strings.Split(volume, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], ".") {
			hostPaths[parts[1]] = filepath.Join(repoRoot(t), "deploy", "compose", parts[0])
		}
	}
	args := slices.Clone(service.Command)
	if len(args) == 0 || args[0] != "emulator" {
		t.Fatalf("emulator command = %v, want the emulator subcommand", args)
	}
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "--listen" && i+1 < len(args):
			if args[i+1] != base.Host {
				t.Errorf("the emulator listens on %s, but the policy's base_url is %s",
					args[i+1], account.BaseURL)
			}
			args[i+1] = "127.0.0.1:0"
		case hostPaths[args[i]] != "":
			args[i] = hostPaths[args[i]]
		}
	}

	binary := buildBinary(t, t.TempDir(), "v0.0.0-compose")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the emulator printed no base URL (err %v); stderr:\n%s", err, stderr.String())
	}
	printed, ok := strings.CutPrefix(strings.TrimSpace(line), "base URL:")
	if !ok {
		t.Fatalf("first line %q is not the base URL", line)
	}

	list := strings.TrimSpace(printed) + "/accounts/" + account.ID + "/tokens"
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, list, nil)
	if err != nil {
		t.Fatal(err)
	}
	management := compose.Services["tokenrotator"].Environment["CF_MANAGEMENT_TOKEN"]
	request.Header.Set("Authorization", "Bearer "+management)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}

	if response.StatusCode != http.StatusOK {
		t.Fatalf("listing the tokens with the compose management token: status %d, body %s",
			response.StatusCode, body)
	}
	for _, token := range cfg.Tokens {
		if !strings.Contains(string(body), `"name":"`+token.Name+`"`) {
			t.Errorf("the seeded emulator has no token %q for the policy", token.Name)
		}
	}
}
