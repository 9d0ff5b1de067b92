package daemon

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// sdNotify sends a state to systemd. Outside systemd (no NOTIFY_SOCKET) it
// does nothing.
func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

func (d *Daemon) notify(state string) {
	if err := d.opts.Notify(state); err != nil {
		d.log.Warn("systemd notification failed", "state", state, "err", err)
	}
}

// watchdog pings systemd's watchdog at half its interval while the daemon
// runs. Without WatchdogSec= in the unit it returns at once.
func (d *Daemon) watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("systemd watchdog settings are invalid; not sending pings", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	ticker := time.NewTicker(interval / 2)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			d.notify("WATCHDOG=1")
		}
	}
}
