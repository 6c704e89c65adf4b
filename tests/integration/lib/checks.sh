# SPDX-License-Identifier: LGPL-2.1-or-later
# Named checks for shell tests, in TAP's words; source after harness.sh:
#   check DESCRIPTION COMMAND...   "ok - DESCRIPTION" when COMMAND succeeds, else
#                                  "not ok - DESCRIPTION" and one more in $failures
#   checks_done                    ends the checks: harness_die when any failed

failures=0

check() {
        if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi
}

checks_done() {
        [ "$failures" = 0 ] || harness_die "$failures checks failed"
}
