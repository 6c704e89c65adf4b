#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Characters a terminal shows as nothing or that reorder the text around them (bidi overrides
# and isolates, zero-width spaces, the BOM) are valid in keys and labels: another user's key
# "evil<U+202E>gpj.exe" would show in root's listing as "evilexe.jpg". laminactl writes their
# bytes as "\xNN" in tables, trees, key lists, labels and error messages, and as "\uXXXX" in
# JSON (the same value: jq reads the key back).
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

rlo=$'\xe2\x80\xae' zwsp=$'\xe2\x80\x8b' lri=$'\xe2\x81\xa6' bom=$'\xef\xbb\xbf'
key="evil${rlo}gpj.exe${zwsp}"
shown_key='evil\xe2\x80\xaegpj.exe\xe2\x80\x8b'
value="a${lri}b${bom}"
shown_value='a\xe2\x81\xa6b\xef\xbb\xbf'

# shown WHAT TEXT: $out and $err hold none of the characters as is, and $out holds TEXT
# (unless TEXT is empty).
shown() {
        if printf '%s%s' "$out" "$err" | LC_ALL=C grep -qF -e "$rlo" -e "$zwsp" -e "$lri" -e "$bom"; then
                fail "$1: an invisible character reached the terminal: $(printf '%s%s' "$out" "$err" | od -c | head -n 6)"
        elif [ -n "$2" ] && ! printf '%s' "$out" | grep -qF -- "$2"; then
                fail "$1: \"$2\" is not in: $out"
        else
                pass "$1"
        fi
}

ok "prepare a key with a bidi override and a zero-width space" prepare "$key"
ok "label it with an isolate and a BOM" label "$key" "note=$value"
shown "label prints the labels escaped" "note=$shown_value"

ok "ls" ls
shown "ls shows the key escaped" "$shown_key"
ok "ls -q" ls -q
shown "ls -q shows the key escaped" "$shown_key"
ok "tree" tree
shown "tree shows the key escaped" "$shown_key"
ok "label" label "$key"
shown "label shows the value escaped" "note=$shown_value"

ok "ls --json=short" --json=short ls
shown "JSON ls writes the override as \\u202e" 'evil\u202egpj.exe\u200b'
expect "JSON ls: jq reads the key back" "$(json '.[0].name')" "$key"
ok "info" info "$key"
shown "info (JSON) writes the isolate as \\u2066" 'a\u2066b\ufeff'
expect "info: jq reads the label back" "$(json '.labels.note')" "$value"

fails "an error message quotes the key escaped" 1 'does not exist' info "nope${rlo}x"
shown "the error message's key is escaped" ""
printf '%s\n' "$err" | grep -qF 'nope\xe2\x80\xaex' || fail "the error names the key escaped: $err"

ok "rm" rm "$key"
finish
