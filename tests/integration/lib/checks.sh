# SPDX-License-Identifier: LGPL-2.1-or-later
# Named checks for shell tests, in TAP's words; source after harness.sh (not with
# ctl-lib.sh, whose ok runs laminactl):
#   ok DESCRIPTION                 "ok - DESCRIPTION", one more in $checks
#   not_ok DESCRIPTION             "not ok - DESCRIPTION", one more in $checks and $failures
#   check DESCRIPTION COMMAND...   ok DESCRIPTION when COMMAND succeeds, else not_ok
#   checks_done                    ends the checks: prints how many failed of how many,
#                                  harness_die when any failed

checks=0
failures=0

ok() {
        checks=$((checks + 1))
        echo "ok - $*"
}

not_ok() {
        checks=$((checks + 1))
        failures=$((failures + 1))
        echo "not ok - $*"
}

check() {
        if "${@:2}"; then ok "$1"; else not_ok "$1"; fi
}

checks_done() {
        echo "# $checks checks, $failures failed"
        [ "$failures" = 0 ] || harness_die "$failures checks failed"
}
