#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run --rootless of an attacker's image by an ordinary user: the container side reads the
# image's /etc/passwd (the home of its user) before it runs anything, and prints the image's
# User, WorkingDir and command in its messages.
# - /etc/passwd a FIFO blocked the start for ever, a link to /dev/zero never ended: both are
#   refused as not regular files;
# - terminal escapes in User and WorkingDir reach the user's terminal escaped.
. "$(dirname "$0")/ctl-lib.sh"
for tool in newuidmap newgidmap setpriv; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh: uidmap, util-linux)"
done
busybox=$(command -v busybox) || harness_skip "busybox is not installed (busybox-static)"
! ldd "$busybox" >/dev/null 2>&1 || harness_skip "$busybox is not static (install busybox-static)"

harness_setup --polkit --idle-timeout 300
harness_install_policy
user=$(harness_add_user rlhostile)
harness_install_group_rule "$user"
s=$((1000000000 + $(id -u "$user") * 65536))
usermod --add-subuids "$s-$((s + 65535))" --add-subgids "$s-$((s + 65535))" "$user" ||
        harness_die "usermod --add-subuids failed"
CTL_AS="harness_as $user"
CTL_AS="harness_as $user" harness_wait_for 300 ctl_succeeds -q prepare rule-probe || fail "the group rule did not take effect"
ok "user: rm the probe" rm rule-probe

# image NAME PASSWD CONFIG: a busybox image whose /etc/passwd is PASSWD ("fifo", "zero": a
# link to /dev/zero, else a regular file) and whose config is CONFIG, imported by the user.
image() {
        rm -rf "$T/rootfs" "$T/$1"
        mkdir -p "$T/rootfs/bin" "$T/rootfs/etc" "$T/rootfs/srv"
        cp "$busybox" "$T/rootfs/bin/busybox"
        ln -s busybox "$T/rootfs/bin/sh"
        case $2 in
        fifo) mkfifo "$T/rootfs/etc/passwd" ;;
        zero) ln -s /dev/zero "$T/rootfs/etc/passwd" ;;
        *) echo 'root:x:0:0:root:/root:/bin/sh' >"$T/rootfs/etc/passwd" ;;
        esac
        make_layer "$T/rootfs" "$T/$1.tar"
        OCI_CONFIG=$3 make_oci_layout "$T/$1" "$1" "" "$T/$1.tar"
        chmod -R a+rX "$T/$1"
        ok "user: import $1" -q import "$T/$1" --name "$1"
}

# run_bounded IMAGE ARGS…: run --rootless as the user, killed after 120 s (a hang fails).
run_bounded() {
        # shellcheck disable=SC2046
        out=$(timeout -k 10 120 setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups -- \
                "$LAMINACTL" --no-pager run --rootless "$@" 2>"$T/ctl.err" </dev/null)
        rc=$?
        err=$(cat "$T/ctl.err")
}

# refused WHAT PATTERN: the run failed (not killed by the bound) with PATTERN on stderr, which
# holds no control character.
refused() {
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                fail "$1: run --rootless blocked (killed after 120 s)"
        elif [ "$rc" = 0 ] || ! printf '%s\n' "$err" | grep -Eq "$2"; then
                fail "$1: exit $rc, stderr: $err"
        elif printf '%s' "$err" | LC_ALL=C grep -q '[[:cntrl:]]'; then
                fail "$1: a control character reached the terminal: $(printf '%s' "$err" | od -c | head -n 4)"
        else
                pass "$1 ($err)"
        fi
}

image fifo fifo '{"Cmd":["/bin/sh","-c","echo ran"]}'
run_bounded fifo --rm -q
refused "/etc/passwd a FIFO" "/etc/passwd is not a regular file"
image zero zero '{"Cmd":["/bin/sh","-c","echo ran"]}'
run_bounded zero --rm -q
refused "/etc/passwd a link to /dev/zero" "/etc/passwd is not a regular file"

image user plain '{"User":"\u001b]0;owned\u0007x","Cmd":["/bin/sh","-c","echo ran"]}'
run_bounded user --rm -q
refused "an image's User with a terminal escape" 'user \\x1b\]0;owned\\x07x is not in its /etc/passwd'
image workdir plain '{"WorkingDir":"/srv/\u001b[2Jgone","Cmd":["/bin/sh","-c","echo ran"]}'
run_bounded workdir --rm -q
refused "an image's WorkingDir with a terminal escape" 'working directory /srv/\\x1b\[2Jgone'

image good plain '{"Cmd":["/bin/sh","-c","echo ran"]}'
run_bounded good --rm -q
expect "a regular /etc/passwd: the image runs" "$rc:$out" "0:ran"
ctl --json=short ls
expect "no run snapshot left" "$(json 'map(select(.kind != "committed") | .name)')" "[]"
finish
