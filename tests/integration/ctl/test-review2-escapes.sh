#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An image made by an attacker, imported by root: the strings of its JSON (paths of the config
# and layers, digests) reach laminactl's error messages, which go to root's terminal. A byte
# that is not printable UTF-8 (ESC starting a terminal sequence, BEL, a newline forging a
# line) must be escaped there, never written as is.
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

# no_raw_controls WHAT: $err holds no control byte but the newline ending it.
no_raw_controls() {
        if printf '%s' "$err" | LC_ALL=C grep -q '[[:cntrl:]]'; then
                fail "$1: a control character reached the terminal: $(printf '%s' "$err" | od -c | head -n 4)"
        elif [ "$(printf '%s\n' "$err" | wc -l)" != 1 ]; then
                fail "$1: expected one line on stderr, got: $err"
        else
                pass "$1 ($err)"
        fi
}

# A docker save archive whose Config names a file that is not there, by a name holding a
# terminal's "set the window title" sequence and a newline.
evil="$T/evil-config"
mkdir -p "$evil"
printf '[{"Config":"\\u001b]0;owned\\u0007\\nlaminactl: all is well.json","RepoTags":["evil:1"],"Layers":["a/layer.tar"]}]' \
        >"$evil/manifest.json"
tar -C "$evil" -cf "$T/evil-config.tar" manifest.json
ctl import "$T/evil-config.tar"
[ "$rc" != 0 ] || fail "the import of an archive without its config succeeded"
no_raw_controls "a missing config's name is escaped"

# A config that is there, with a layer path that is not: the path goes into the message.
evil="$T/evil-layer"
mkdir -p "$evil"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%064d"]}}' 0 >"$evil/config"
cfg=$(sha256sum "$evil/config" | cut -d' ' -f1).json
mv "$evil/config" "$evil/$cfg"
printf '[{"Config":"%s","RepoTags":["evil:2"],"Layers":["\\u001b[2J\\u001b[31mx/layer.tar"]}]' "$cfg" >"$evil/manifest.json"
tar -C "$evil" -cf "$T/evil-layer.tar" manifest.json "$cfg"
ctl import "$T/evil-layer.tar"
[ "$rc" != 0 ] || fail "the import of an archive without its layer succeeded"
no_raw_controls "a missing layer's path is escaped"

# The same as a directory (openat2 beneath it).
ctl import "$evil"
[ "$rc" != 0 ] || fail "the import of a directory without its layer succeeded"
no_raw_controls "a missing layer's path in a directory is escaped"

ok "ls after the failures" --json=short ls
expect "no leftover snapshots" "$(json 'map(select(.kind != "committed")) | length')" 0
finish
