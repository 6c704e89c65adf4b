#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one test program against a private system bus with laminad activatable on it:
#   run-test.sh [--idle-timeout SECONDS] [--polkit] [--user NAME]... -- PROGRAM [ARGS...]
# The program sees DBUS_SYSTEM_BUS_ADDRESS, LAMINA_TEST_DIR (scratch space; anything mounted
# below it is unmounted afterwards), LAMINA_BUILD_DIR, LAMINA_SOURCE_DIR and, per --user NAME,
# LAMINA_TEST_USER_<NAME> (the created user's name) and LAMINA_TEST_UID_<NAME>.
# Its exit status is the test's; cleanup runs whatever happens.

HARNESS_LIB=$(cd "$(dirname "$0")" && pwd)
. "$HARNESS_LIB/harness.sh"

setup_args=""
users=""
while [ $# -gt 0 ]; do
        case "$1" in
        --idle-timeout) setup_args="$setup_args --idle-timeout $2"; shift 2 ;;
        --polkit) setup_args="$setup_args --polkit"; shift ;;
        --user) users="$users $2"; shift 2 ;;
        --) shift; break ;;
        *) harness_die "run-test.sh: unknown option $1" ;;
        esac
done
[ $# -gt 0 ] || harness_die "usage: run-test.sh [options] -- PROGRAM [ARGS...]"

# shellcheck disable=SC2086
harness_setup $setup_args
for u in $users; do
        name=$(harness_add_user "$u") && [ -n "$name" ] || harness_die "cannot create test user $u"
        export "LAMINA_TEST_USER_$u=$name" "LAMINA_TEST_UID_$u=$(id -u "$name")"
done

"$@"
