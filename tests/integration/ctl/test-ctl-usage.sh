#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Usage errors exit 2 with one line saying what is wrong; --help and --version exit 0.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

ok "--help" --help
printf '%s\n' "$out" | grep -q '^  run IMAGE' || fail "--help lists run"
global_help=$out

# Every command the global help lists has its own help, the same through "help CMD" and
# "CMD --help", starting with its synopsis.
commands=$(printf '%s\n' "$global_help" | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p' | sort -u)
[ "$(printf '%s\n' "$commands" | wc -l)" -ge 19 ] || fail "commands found in --help: $commands"
for cmd in $commands; do
        ctl help "$cmd"
        help_out=$out
        if [ "$rc" != 0 ] || ! printf '%s\n' "$out" | head -n 1 | grep -q "^laminactl \[OPTIONS...\] $cmd\b"; then
                fail "help $cmd: exit $rc: $out $err"
                continue
        fi
        ctl "$cmd" --help
        [ "$rc" = 0 ] && [ "$out" = "$help_out" ] || fail "$cmd --help differs from help $cmd: $out"
done
pass "help CMD and CMD --help for: $(echo $commands)"
ok "help of an alias" help remove
expect "an alias shows its command's help" "$(printf '%s\n' "$out" | head -n 1)" "laminactl [OPTIONS...] rm KEY..."
ok "help alone" help
expect "help alone is --help" "$out" "$global_help"
fails "help of an unknown command" 2 'unknown command "nosuch"' help nosuch
ok "--version" --version
expect "--version prints the version" "${out%% *}" "laminactl"

fails "no command" 2 'missing command'
fails "unknown command" 2 'unknown command "frobnicate"' frobnicate
fails "unknown option" 2 'unknown option --frobnicate' ls --frobnicate
fails "option without its argument" 2 'needs an argument' ls --json
fails "bad --json" 2 '--json takes "pretty" or "short"' --json=yaml ls
fails "bad --user" 2 '--user needs a numeric uid' --user=root ls
fails "info without key" 2 'info needs an argument' info
fails "info with two keys" 2 'too many arguments for info' info a b
fails "commit with one argument" 2 'commit needs two arguments' commit a
fails "prepare with three arguments" 2 'too many arguments for prepare' prepare a b c
fails "apply without file" 2 'apply needs two arguments' apply a
fails "option of another verb" 2 'ls does not take --rm' ls --rm
fails "--rm with --commit" 2 '--rm and --commit exclude each other' run img --rm --commit x
fails "tree takes no arguments" 2 'too many arguments for tree' tree x

fails "a key that is not UTF-8" 1 'must be UTF-8' info $'\xff\xfe'

# Everything after -- is an argument, even when it looks like an option.
fails "-- ends options" 1 '"-x"' info -- -x
finish
