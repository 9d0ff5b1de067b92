package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	if !slices.Contains(compose.Services["emulator"].Command, "--allow-remote") {
		t.Error("the emulator command lacks --allow-remote, so other containers cannot reach it")
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
