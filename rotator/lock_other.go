//go:build !unix

package rotator

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens dir/lock without locking it: this platform has no flock.
//
// NOTE: on platforms other than Unix two daemons can share a state directory.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	return f, nil
}
