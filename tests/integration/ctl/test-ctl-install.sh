#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What `meson install` puts in place for laminactl: `man laminactl` shows the installed page,
# and the installed bash completion, run by the installed laminactl (on bash-completion's own
# helpers when those are installed), offers snapshot keys.
. "$(dirname "$0")/ctl-lib.sh"

command -v man >/dev/null || harness_skip "man is not installed (man-db)"
command -v meson >/dev/null || harness_skip "meson is not installed"
harness_setup

dest="$T/dest"
installed() { # the install path of the file whose path ends in $1
        meson introspect "$LAMINA_BUILD_DIR" --installed | jq -r --arg f "$1" 'to_entries[] | select(.key | endswith($f)) | .value'
}
if meson install -C "$LAMINA_BUILD_DIR" --destdir "$dest" --no-rebuild --quiet >"$T/install.log" 2>&1; then
        pass "meson install --destdir"
else
        fail "meson install --destdir: $(tail -n 20 "$T/install.log")"
        finish
fi
page=$(installed /docs/laminactl.1)
bin=$(installed /src/ctl/laminactl)
completion=$(installed /src/ctl/laminactl.bash-completion)
for f in "$page" "$bin" "$completion"; do
        [ -n "$f" ] && [ -e "$dest$f" ] || fail "installed: ${f:-(not in the install plan)}"
done

# man finds the page through MANPATH as it would in the system's man tree.
man_out=$(MANPATH="$dest$(dirname "$(dirname "$page")")" MANWIDTH=80 man --pager=cat laminactl 2>"$T/man.err")
expect "man laminactl exits 0" "$?" 0
expect "man laminactl prints nothing on stderr" "$(cat "$T/man.err")" ""
printf '%s\n' "$man_out" | grep -q '^NAME$' || fail "man laminactl has a NAME section: $man_out"
printf '%s\n' "$man_out" | grep -Eq '^ +laminactl +- ' || fail "man laminactl names laminactl: $(printf '%s\n' "$man_out" | head)"
printf '%s\n' "$man_out" | grep -Eq '^ +run +IMAGE' || fail "man laminactl documents run"
expect "man -l of the installed file is the same page" \
        "$(MANWIDTH=80 man --pager=cat -l "$dest$page" 2>/dev/null)" "$man_out"

ok "the installed laminactl runs" --version
expect "installed --version" "$("$dest$bin" --version | head -n 1)" "$(printf '%s\n' "$out" | head -n 1)"

ok "prepare" prepare work
ok "commit" commit "base image" work
ok "prepare child" prepare child "base image"

PATH="$dest$(dirname "$bin"):$PATH"
completion_load "$dest$completion" real
expect "completion offers snapshot keys" "$(complete_line info '')" "base image child"
expect "completion offers committed parents" "$(complete_line run '')" "base image"
expect "completion offers commands" "$(complete_line umo)" "umount"
if [ -f /usr/share/bash-completion/bash_completion ]; then
        mkdir -p "$T/files/bdir"
        touch "$T/files/busybox.tar"
        expect "import offers directories and archives" "$(cd "$T/files" && complete_line import b)" "bdir busybox.tar"
fi
finish
