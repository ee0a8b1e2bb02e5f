#!/usr/bin/env bash
# Runs every test package through PgBouncer in transaction pooling mode
# (TODOLOG_TEST_PGBOUNCER=1). PgBouncer 1.18, Debian 12's version, can exit
# with "bad client state" when a client disconnects while its cancel
# request is in flight. The harness restarts PgBouncer and says so on
# stderr, but the tests running at that moment fail. A package that failed
# with that message runs once more, and the rerun decides. Any other
# failure fails at once.
set -uo pipefail

go_cmd=${GO:-go}
output=$(mktemp)
trap 'rm -f "$output"' EXIT

TODOLOG_TEST_PGBOUNCER=1 "$go_cmd" test -count=1 -timeout 15m "$@" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
if [[ $status == 0 ]]; then
    exit 0
fi

# go test prints each package's output as one block that ends with
# "ok <package>" or "FAIL <package> <time>".
mapfile -t crashed < <(awk '
    /pgbouncer exited unexpectedly/ { crashed = 1 }
    /^(ok|FAIL|---)[ \t]/ && $2 ~ /\// {
        if ($1 == "FAIL" && crashed) print $2
        crashed = 0
    }' "$output")
mapfile -t failed < <(awk '$1 == "FAIL" && $2 ~ /\// { print $2 }' "$output")

if [[ ${#failed[@]} == 0 || ${#crashed[@]} != ${#failed[@]} ]]; then
    exit "$status"
fi
echo "PgBouncer exited during ${crashed[*]}; running those packages once more." >&2
TODOLOG_TEST_PGBOUNCER=1 "$go_cmd" test -count=1 -timeout 15m "${crashed[@]}"
