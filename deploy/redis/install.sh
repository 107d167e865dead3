#!/bin/sh
# Makes sure redis-server is installed for the tests of the Redis state
# store (state/, gateway/, test/ start their own on a free loopback port).
# It comes from Debian's "redis-server" package; if missing and we are root
# with apt-get (as in CI), it is installed. Otherwise this says how, and the
# tests that need it skip saying so.
set -eu

if [ "${SKIP_REDIS:-}" = 1 ]; then
	echo "SKIP_REDIS=1: not installing redis-server; the Redis tests will skip" >&2
	exit 0
fi

for p in "${REDIS_SERVER:-}" "$(command -v redis-server 2>/dev/null || true)" /usr/bin/redis-server /usr/local/bin/redis-server; do
	if [ -n "$p" ] && [ -x "$p" ]; then
		echo "redis-server: $p ($("$p" --version | cut -d' ' -f3))"
		exit 0
	fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "redis-server not found: installing Debian's redis-server package" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends redis-server >/dev/null
	# The package starts a system service in some images; the tests start
	# their own, so it is not needed.
	exit 0
fi
echo "redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server;" >&2
echo "or set REDIS_SERVER to its path); the Redis tests skip until then." >&2
exit 0
