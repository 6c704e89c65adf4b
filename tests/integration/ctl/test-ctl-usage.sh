#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Usage errors exit 2 with one line saying what is wrong; --help and --version exit 0.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

ok "--help" --help
printf '%s\n' "$out" | grep -q '^  run IMAGE' || fail "--help lists run"
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
