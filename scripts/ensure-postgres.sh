#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (15 or newer) are installed, because
# todolog creates its embedded database and its test clusters from them.
# Installs Debian's package when running as root with apt-get; otherwise
# prints the command to run and fails.
set -euo pipefail

have_server() {
    if [[ -n "${TODOLOG_PG_BINDIR:-}" && -x "$TODOLOG_PG_BINDIR/initdb" ]]; then
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_server; then
    exit 0
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries not found; installing Debian's postgresql package." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    if have_server; then
        exit 0
    fi
    echo "apt-get installed postgresql, but initdb is still missing." >&2
    exit 1
fi

cat >&2 <<'MSG'
PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found.
Install them, then run this command again:
    sudo apt-get install postgresql        # Debian, Ubuntu
or point todolog at them with TODOLOG_PG_BINDIR=/path/to/bin,
or at an existing server with DATABASE_URL=postgres://...
MSG
exit 1
