#!/usr/bin/env bash
# Makes sure PgBouncer is installed, because `make test` runs the tests a
# second time through PgBouncer in transaction pooling mode. Installs
# Debian's package when running as root with apt-get; otherwise prints the
# command to run and fails.
set -euo pipefail

have_pgbouncer() {
    if [[ -n "${TODOLOG_PGBOUNCER:-}" && -x "$TODOLOG_PGBOUNCER" ]]; then
        return 0
    fi
    command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]]
}

if have_pgbouncer; then
    exit 0
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "PgBouncer not found; installing Debian's pgbouncer package." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package enables a pgbouncer service; the tests start their own
    # PgBouncer on a free port and never use that one.
    apt-get install -y -qq pgbouncer >/dev/null
    if have_pgbouncer; then
        exit 0
    fi
    echo "apt-get installed pgbouncer, but the pgbouncer binary is still missing." >&2
    exit 1
fi

cat >&2 <<'MSG'
PgBouncer was not found. The tests run a second time through it.
Install it, then run this command again:
    sudo apt-get install pgbouncer         # Debian, Ubuntu
or point todolog's tests at it with TODOLOG_PGBOUNCER=/path/to/pgbouncer.
MSG
exit 1
