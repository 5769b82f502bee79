#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests: starts
# the local cluster if it is installed but stopped, installs Debian's postgresql
# as root if it is missing. Prints the URL to use on stdout.
set -euo pipefail

url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "start-postgres: PostgreSQL is not installed; install Debian's postgresql package" >&2
		exit 1
	fi
	echo "start-postgres: installing postgresql with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
fi

if ! ready; then
	version=$(ls /etc/postgresql | sort -V | tail -n1)
	echo "start-postgres: starting cluster $version/main" >&2
	pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
	for _ in $(seq 1 50); do ready && break; sleep 0.2; done
fi
if ! ready; then
	echo "start-postgres: PostgreSQL does not answer on 127.0.0.1:5432" >&2
	exit 1
fi
# Trust auth is how CI machines are set up; elsewhere a user sets
# VIDJOB_TEST_DATABASE_URL themselves.
if ! psql "$url" -qtAc 'select 1' >/dev/null 2>&1; then
	if [[ $(id -u) -eq 0 ]] && command -v runuser >/dev/null; then
		runuser -u postgres -- psql -qtAc "ALTER USER postgres PASSWORD 'postgres'" >&2
		url="postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
	fi
fi
psql "$url" -qtAc 'select 1' >/dev/null
echo "$url"
