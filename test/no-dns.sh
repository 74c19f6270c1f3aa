#!/usr/bin/env bash
# Runs a command (the test runner) where name lookups cannot leave this machine. The commands take
# host names, so a test that feeds them a word that is not an address makes them ask the system
# resolver; the tests may resolve only /etc/hosts names (localhost, or a hosts file of their own
# namespace). As root, the command runs in a private mount namespace whose /etc/resolv.conf names
# 127.0.0.1, where nothing answers: such a lookup fails at once and no query reaches a real
# nameserver. Without root (no mount namespace) the command runs as it is.
#
# It also runs without NODE_EXTRA_CA_CERTS. Node reads and parses that bundle at every start-up of
# every process and worker: measured here (the variable names Debian's 140-certificate bundle),
# `node -e 0` takes 0.12-0.13 s with it and 0.04 s without, and a full `tap` run spawns ~250 node
# processes: user+sys 180 s -> 157 s, tap's time 94-102 s -> 88 s in the same hour. No test talks
# TLS to a certificate it must verify (svcprobe reads a server's certificate without verifying it,
# lib/svc/tls.ts), and no test may reach a public server anyway.
set -u
unset NODE_EXTRA_CA_CERTS
if [ "$(id -u)" = 0 ] && [ -z "${PMAP_TEST_NO_DNS:-}" ] && command -v unshare >/dev/null 2>&1; then
  conf=$(mktemp)
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$conf"
  PMAP_TEST_NO_DNS=1 unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$conf" "$@"
  status=$?
  rm -f "$conf"
  exit "$status"
fi
exec "$@"
