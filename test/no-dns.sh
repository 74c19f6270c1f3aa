#!/usr/bin/env bash
# Runs a command (the test runner) where name lookups cannot leave this machine. The commands take
# host names, so a test that feeds them a word that is not an address makes them ask the system
# resolver; the tests may resolve only /etc/hosts names (localhost, or a hosts file of their own
# namespace). As root, the command runs in a private mount namespace whose /etc/resolv.conf names
# 127.0.0.1, where nothing answers: such a lookup fails at once and no query reaches a real
# nameserver. Without root (no mount namespace) the command runs as it is.
set -u
if [ "$(id -u)" = 0 ] && [ -z "${PMAP_TEST_NO_DNS:-}" ] && command -v unshare >/dev/null 2>&1; then
  conf=$(mktemp)
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$conf"
  PMAP_TEST_NO_DNS=1 unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$conf" "$@"
  status=$?
  rm -f "$conf"
  exit "$status"
fi
exec "$@"
