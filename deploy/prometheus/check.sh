#!/bin/sh
# Checks the Prometheus config and alert rules with promtool, and runs the
# rules' unit tests. promtool comes from Debian's "prometheus" package; if it
# is missing and we are root with apt-get (as in CI), it is installed first.
set -eu
cd "$(dirname "$0")"

if [ "${SKIP_PROMTOOL:-}" = 1 ]; then
	echo "SKIP_PROMTOOL=1: not checking deploy/prometheus" >&2
	exit 0
fi

if ! command -v promtool >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "promtool not found: installing Debian's prometheus package" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	else
		echo "promtool not found: install it (Debian/Ubuntu: apt-get install prometheus;" >&2
		echo "or a release from https://prometheus.io/download/) and run this again," >&2
		echo "or set SKIP_PROMTOOL=1 to skip this check" >&2
		exit 1
	fi
fi

promtool check rules rules.yml
promtool test rules rules_test.yml
promtool check config prometheus.yml
