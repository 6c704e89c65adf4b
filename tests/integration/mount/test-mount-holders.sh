#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One user's open files never decide another user's Busy (mount-holders.c), against the
# real laminad with real polkitd and three unprivileged users. A hoarder holds more open
# files than a search for holders looks at per user (hold-files, processes of at most
# 1024 files each: LimitNOFILE=1024). Then:
# - the owner's and root's force-unmounted mounts, once released, Unmount and Commit
#   (before, the hoarder's files made them Busy);
# - a real holder is still found, whatever its uid: the owner's own process, and a third
#   user's process (searched after the hoarder's) with its working directory in the
#   owner's mount;
# - the hoarder's own mount stays Busy (its own files are not looked through), and so
#   does root's mount at a target every user can reach (the hoarder could hold it as
#   cheaply); both Commit once the hoarder is gone.
# overlayfs only: the search does not depend on the snapshotter.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=overlayfs
command -v prlimit >/dev/null || harness_skip "prlimit is not installed"
HOLD_FILES="$LAMINA_BUILD_DIR/tests/integration/mount/hold-files"
[ -x "$HOLD_FILES" ] || harness_die "hold-files is not built"
. "$HARNESS_LIB/mount-users.sh"
# The hoarder and the third user: $other and one more, the third's uid above the
# hoarder's, so that its processes are looked at after the hoarder's (by uid), once the
# hoarder's budget is spent. Both get the group rule.
more=$(harness_add_user more)
sed "s/isInGroup(\"lamina\")/isInGroup(\"$(id -gn "$more")\")/" \
        "$LAMINA_SOURCE_DIR/polkit/50-lamina-group.rules.example" >"$T/51-lamina-test.rules"
harness_install_file "$T/51-lamina-test.rules" /etc/polkit-1/rules.d/51-lamina-test.rules
if [ "$(id -u "$other")" -lt "$(id -u "$more")" ]; then
        hoarder=$other third=$more
else
        hoarder=$more third=$other
fi

reply_path() {
        printf '%s' "$msg" | sed -n "s/^('\(.*\)',)$/\1/p"
}

cwd_is() {
        [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]
}

# hold USER DIR: a process of USER whose working directory is DIR (entered as root, so
# any user's process can be put into any mount); its PID in $h once it is there.
hold() {
        bash -c 'cd "$1" && exec setpriv --reuid="$2" --regid="$3" --clear-groups -- sleep 600' \
                _ "$2" "$(id -u "$1")" "$(id -g "$1")" &
        h=$!
        bg_pids="$bg_pids $(harness_pid_id "$h")"
        harness_wait_for 300 cwd_is "$h" "$2" || fail "the holder did not start"
}

# mount_held_then_released USER KEY [TARGET]: prepares and mounts KEY, has a process of
# USER hold it, force-unmounts it and ends the holder: the record stays until a search
# for holders finds none.
mount_held_then_released() {
        local u=$1 k=$2 t=${3:-}
        want ok "$u: prepare $k" "$u" Prepare "$k" "" "@a{ss} {}"
        want ok "$u: mount $k" "$u" Mount "$k" "$t" "@as []"
        mnt=$(reply_path)
        hold "$u" "$mnt"
        want ok "$u: force-unmount $k while held" "$u" UnmountWithOptions "$k" "['force']"
        stop "$h"
}

mount_users_wait_for_rule "$owner" "$hoarder"

echo "# the hoarder holds more open files than a search looks at per user"
prlimit --nofile=1024:1024 -- setpriv --reuid="$(id -u "$hoarder")" --regid="$(id -g "$hoarder")" \
        --clear-groups -- "$HOLD_FILES" 140000 >"$T/hoard.out" 2>&1 &
hoard=$!
bg_pids="$bg_pids $(harness_pid_id "$hoard")"
hoard_ready() { grep -q '^ready' "$T/hoard.out"; }
harness_wait_for 600 hoard_ready || harness_die "hold-files did not get ready: $(cat "$T/hoard.out")"
n=$(sed -n 's/^ready //p' "$T/hoard.out")
[ "$n" -gt 131072 ] && pass "the hoarder holds $n files" || fail "the hoarder holds only $n files"
expect "in processes of at most 1024" "$(grep '^Max open files' "/proc/$hoard/limits" | awk '{print $4}')" 1024

echo "# the owner's and root's released mounts: not Busy because of the hoarder"
mount_held_then_released "$owner" a
want ok "owner: Unmount of the released mount" "$owner" Unmount a
mount_held_then_released "$owner" b
want ok "owner: Commit of the released mount" "$owner" Commit bc b "@a{ss} {}"
mount_held_then_released root r
want ok "root: Unmount of the released mount" root Unmount r
mount_held_then_released root s
want ok "root: Commit of the released mount" root Commit sc s "@a{ss} {}"

echo "# real holders are found, whatever their uid"
want ok "owner: prepare c" "$owner" Prepare c "" "@a{ss} {}"
want ok "owner: mount c" "$owner" Mount c "" "@as []"
cmnt=$(reply_path)
hold "$owner" "$cmnt"
owner_holder=$h
hold "$third" "$cmnt"
third_holder=$h
want ok "owner: force-unmount c" "$owner" UnmountWithOptions c "['force']"
want Busy "owner: Commit while the owner's and a third user's process hold it" "$owner" Commit cc c "@a{ss} {}"
case "$msg" in *"2 processes still use it"*) pass "both found by the search" ;; *) fail "message: $msg" ;; esac
stop "$owner_holder"
want Busy "owner: Commit while a third user's process holds it" "$owner" Commit cc c "@a{ss} {}"
case "$msg" in *"1 process still uses it"*) pass "found by the search" ;; *) fail "message: $msg" ;; esac
stop "$third_holder"
want ok "owner: Commit once released" "$owner" Commit cc c "@a{ss} {}"

echo "# what the hoarder's files leave unknown: its own mount, and mounts it can reach"
mount_held_then_released "$hoarder" own
want Busy "hoarder: Commit of its own released mount" "$hoarder" Commit ownc own "@a{ss} {}"
install -d -m 0755 "$T/pub/t"
mount_held_then_released root p "$T/pub/t"
want Busy "root: Commit of its released mount at a target every user reaches" root Commit pc p "@a{ss} {}"
stop "$hoard"
harness_wait_for 100 sh -c "! pgrep -u '$(id -u "$hoarder")' >/dev/null" || fail "the hoarder's processes did not end"
want ok "hoarder: Commit once its files are closed" "$hoarder" Commit ownc own "@a{ss} {}"
want ok "root: Commit once the hoarder is gone" root Commit pc p "@a{ss} {}"

finish
