"""systemd: robostack as a ``Type=notify`` service (the unit it installs, and its side of sd_notify)."""
