#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A mount belongs to its owner and ends when Unmount says it ends (issue 15), on the
# snapshotter $1, with real polkitd granting two unprivileged users what an active session
# gets by default (manage-own, mount-own: the guide's group rule):
# - another user cannot list, read or write the owner's mount (EACCES); the owner can;
# - a process holding a directory inside the mount: Unmount, Remove are Busy and Cleanup
#   leaves its files alone; UnmountWithOptions force detaches it, and Commit, Mount, Remove
#   of the snapshot are Busy until the holder exits; then Commit succeeds and a View of the
#   committed snapshot holds exactly what was there at Commit;
# - the same across a laminad restart (a lingering mount is found again by its ID);
# - root, a caller-chosen target whose parent is renamed: ListMounts shows the new path,
#   also after a restart, and Unmount unmounts it there;
# - Mount with "idmap": the image's files show as the owner's, it can write the image's root
#   directory, and what it writes is stored with image id 0 (nosuid,nodev, idmapped).
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-mount-linger.sh SNAPSHOTTER}
. "$HARNESS_LIB/mount-users.sh"

is_mounted() {
        findmnt -rn --mountpoint "$1" >/dev/null
}

# hold USER DIR: a process of USER with its working directory (and fd 3) in DIR; its
# PID in $h once it is there.
hold() {
        setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups -- \
                bash -c 'cd "$1" && exec 3<. && exec sleep 600' _ "$2" &
        h=$!
        bg_pids="$bg_pids $(harness_pid_id "$h")"
        harness_wait_for 300 cwd_is "$h" "$2" || fail "the holder did not start"
}

cwd_is() {
        [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]
}

restart_laminad() {
        local pid
        pid=$(harness_laminad_pid)
        [ -n "$pid" ] || { fail "laminad is not running"; return; }
        kill -TERM "$pid"
        harness_wait_for 100 harness_name_gone org.lamina.snapshot1 || fail "laminad did not exit"
}

listed() { # USER KEY: the path ListMounts gives for KEY, if any
        call "$1" ListMounts
        printf '%s' "$msg" | grep -o "('$2', '[^']*'" | sed "s/.*, '//; s/'$//"
}

# Root's image: a world-writable w/ (like tmp/), an orig.txt and a secret only the owner's
# mount should show.
python3 - "$T/base.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name, kind, mode, data in [("w", tarfile.DIRTYPE, 0o1777, None),
                                   ("orig.txt", tarfile.REGTYPE, 0o666, b"orig\n"),
                                   ("secret.conf", tarfile.REGTYPE, 0o644, b"secret\n")]:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode = kind, mode
        if data is not None:
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
EOF
chmod 0644 "$T/base.tar"
ok "root: prepare the base" -s "$sn" prepare base-work
ok "root: apply the base" -s "$sn" apply base-work "$T/base.tar"
ok "root: commit the base" -s "$sn" commit base base-work

rule_active() {
        call "$owner" Prepare a base "@a{ss} {}"
        [ "$got" = ok ]
}
harness_wait_for 300 rule_active && pass "owner: prepare with the group rule" || fail "the group rule did not take effect: $msg"

echo "# per-owner mount locations"
want ok "owner: mount" "$owner" Mount a "" "@as []"
mnt=$(reply_path)
case "$mnt" in
"$T/run/mounts/$sn/$(id -u "$owner")/"????????????????) pass "in the owner's directory, a random name" ;;
*) fail "mount path $mnt" ;;
esac
expect "the owner's directory is root's, searchable by the owner through its ACL" \
        "$(stat -c '%u %a' "$(dirname "$mnt")")" "0 710"
harness_as "$owner" touch "$(dirname "$mnt")/fill" 2>/dev/null && fail "owner creates files beside its mounts" ||
        pass "owner cannot create files beside its mounts"
harness_as "$owner" ls "$(dirname "$mnt")" >/dev/null 2>&1 && fail "owner lists its mount directory" ||
        pass "owner cannot list its mount directory"
harness_as "$owner" cat "$mnt/secret.conf" >/dev/null 2>&1 && pass "owner reads its mount" || fail "owner cannot read its mount"
harness_as "$owner" sh -c "echo one >'$mnt/w/f1'" && pass "owner writes its mount" || fail "owner cannot write its mount"
for cmd in "ls '$mnt'" "cat '$mnt/secret.conf'" "touch '$mnt/w/intruder'" "ls '$(dirname "$mnt")'"; do
        if e=$(harness_as "$other" sh -c "$cmd" 2>&1); then
                fail "other user: $cmd worked"
        else
                case "$e" in
                *"Permission denied"*) pass "other user: $cmd: EACCES" ;;
                *) fail "other user: $cmd: $e" ;;
                esac
        fi
done
[ ! -e "$mnt/w/intruder" ] || fail "the other user wrote into the owner's mount"

echo "# a holder keeps the mount: Busy, and nothing is taken from under it"
hold "$owner" "$mnt/w"
want Busy "owner: Unmount while held" "$owner" Unmount a
case "$msg" in *'"a" is in use by 1 process'*) pass "the message says by whom" ;; *) fail "message: $msg" ;; esac
is_mounted "$mnt" && pass "still mounted" || fail "Unmount took the held mount away"
expect "ListMounts still shows it" "$(listed "$owner" a)" "$mnt"
want Busy "owner: Remove while mounted" "$owner" Remove a
want Busy "owner: Commit while mounted" "$owner" Commit c a "@a{ss} {}"
ok "root: cleanup" -s "$sn" cleanup
expect "the holder's files are still there" "$(cat "/proc/$h/cwd/f1" 2>&1)" "one"

echo "# force: detached, but the snapshot stays busy until the holder lets go"
want InvalidArgument "owner: an unknown unmount option" "$owner" UnmountWithOptions a "['lazy']"
want ok "owner: UnmountWithOptions force" "$owner" UnmountWithOptions a "['force']"
is_mounted "$mnt" && fail "still mounted after force" || pass "gone from the mount table"
expect "ListMounts no longer shows it" "$(listed "$owner" a)" ""
echo late >"/proc/$h/cwd/late.txt" && pass "the holder can still write" || fail "the holder cannot write"
want Busy "owner: Commit while held" "$owner" Commit c a "@a{ss} {}"
case "$msg" in *"still use"*) pass "the message says it is still in use" ;; *) fail "message: $msg" ;; esac
want Busy "owner: Mount while held" "$owner" Mount a "" "@as []"
want Busy "owner: Remove while held" "$owner" Remove a
ctl_as_owner() { CTL_AS="harness_as $owner" ctl "$@"; CTL_AS=""; }
ctl_as_owner -s "$sn" apply a "$T/base.tar"
[ "$rc" != 0 ] && pass "owner: Apply while held fails ($err)" || fail "Apply while held worked"
ok "root: cleanup" -s "$sn" cleanup
expect "the holder's files survive Cleanup" "$(cat "/proc/$h/cwd/f1" 2>&1)" "one"

echo "# the same across a restart of laminad"
restart_laminad
want Busy "owner: Commit while held, after a restart" "$owner" Commit c a "@a{ss} {}"
expect "ListMounts after the restart" "$(listed "$owner" a)" ""
stop "$h"
want ok "owner: Commit once the holder is gone" "$owner" Commit c a "@a{ss} {}"
want ok "owner: View of the committed snapshot" "$owner" View v c "@a{ss} {}"
want ok "owner: mount the view" "$owner" Mount v "" "@as []"
vmnt=$(reply_path)
expect "the committed content is what was there at Commit" \
        "$([ -n "$vmnt" ] && cd "$vmnt" && find . | sort | tr '\n' ' ')" ". ./orig.txt ./secret.conf ./w ./w/f1 ./w/late.txt "
expect "late.txt" "$(cat "$vmnt/w/late.txt")" "late"
expect "orig.txt" "$(cat "$vmnt/orig.txt")" "orig"
want ok "owner: unmount the view" "$owner" Unmount v
[ ! -e "$vmnt" ] && pass "the view's mount point is removed" || fail "$vmnt is left"

if harness_as "$owner" unshare -Urm true 2>/dev/null; then
        echo "# a copy in the owner's own user and mount namespace keeps the snapshot busy"
        want ok "owner: prepare u" "$owner" Prepare u base "@a{ss} {}"
        want ok "owner: mount u" "$owner" Mount u "" "@as []"
        umnt=$(reply_path)
        harness_as "$owner" sh -c "echo before >'$umnt/w/before'"
        setpriv --reuid="$(id -u "$owner")" --regid="$(id -g "$owner")" --clear-groups -- \
                unshare -Urm sleep 600 &
        copier=$!
        bg_pids="$bg_pids $(harness_pid_id "$copier")"
        has_copy() { grep -q " $umnt " "/proc/$copier/mountinfo" 2>/dev/null &&
                [ "$(readlink "/proc/$copier/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; }
        harness_wait_for 300 has_copy || fail "the copy did not appear"
        want Busy "owner: Unmount while a copy lives" "$owner" Unmount u
        case "$msg" in *"user namespace"*) pass "the message says where" ;; *) fail "message: $msg" ;; esac
        is_mounted "$umnt" && fail "still mounted here" || pass "gone from laminad's mount table"
        expect "ListMounts no longer shows u" "$(listed "$owner" u)" ""
        want Busy "owner: Commit while a copy lives" "$owner" Commit uc u "@a{ss} {}"
        want Busy "owner: Remove while a copy lives" "$owner" Remove u
        restart_laminad
        want Busy "owner: Commit while a copy lives, after a restart" "$owner" Commit uc u "@a{ss} {}"
        stop "$copier"
        want ok "owner: Commit once the copy is gone" "$owner" Commit uc u "@a{ss} {}"
fi

echo "# idmap: the image's ids show as the owner's, what it writes is stored with image ids"
want ok "owner: prepare im" "$owner" Prepare im base "@a{ss} {}"
want ok "owner: mount im without idmap" "$owner" Mount im "" "@as []"
imnt=$(reply_path)
harness_as "$owner" touch "$imnt/by-owner" 2>/dev/null &&
        fail "without idmap the owner could write into the image's root directory" ||
        pass "without idmap the image's root directory is root's"
want ok "owner: unmount im" "$owner" Unmount im
want InvalidArgument "owner: an unknown mount option" "$owner" Mount im "" "@as ['idmapx']"
want ok "owner: mount im with idmap" "$owner" Mount im "" "@as ['idmap']"
imnt=$(reply_path)
expect "the image's root directory shows as the owner's" "$(stat -c %u:%g "$imnt")" \
        "$(id -u "$owner"):$(id -g "$owner")"
expect "secret.conf shows as the owner's" "$(stat -c %u "$imnt/secret.conf")" "$(id -u "$owner")"
harness_as "$owner" sh -c "echo mine >'$imnt/by-owner' && echo changed >>'$imnt/secret.conf'" &&
        pass "the owner writes and changes files of the image's root" || fail "the owner cannot write with idmap"
# A writable mount is an overlay (of its data alone where the snapshot has no layers),
# which is not idmapped itself: its directories are (the owners above).
case "$(findmnt -rn -o FSTYPE,OPTIONS --mountpoint "$imnt")," in
"overlay "*,nosuid,*nodev,*) pass "an overlay, nosuid,nodev" ;;
*) fail "type and options: $(findmnt -rn -o FSTYPE,OPTIONS --mountpoint "$imnt")" ;;
esac
want ok "owner: unmount the idmapped mount" "$owner" Unmount im
want ok "owner: mount im plain again" "$owner" Mount im "" "@as []"
imnt=$(reply_path)
expect "the new file is stored as image id 0" "$(stat -c %u:%g "$imnt/by-owner")" "0:0"
expect "the changed file stays image id 0" "$(stat -c %u "$imnt/secret.conf") $(tail -n 1 "$imnt/secret.conf")" "0 changed"
want ok "owner: unmount im" "$owner" Unmount im

echo "# root, a caller-chosen target whose parent is renamed, across a restart"
mkdir -p "$T/p/t"
want ok "root: prepare r" root Prepare r base "@a{ss} {}"
want ok "root: mount r on a chosen target" root Mount r "$T/p/t" "@as []"
mv "$T/p" "$T/p2"
expect "ListMounts follows the rename" "$(listed root r)" "$T/p2/t"
restart_laminad
expect "ListMounts after a restart" "$(listed root r)" "$T/p2/t"
hold root "$T/p2/t"
want Busy "root: Unmount while a process has its cwd inside" root Unmount r
stop "$h"
want ok "root: Unmount after the rename" root Unmount r
is_mounted "$T/p2/t" && fail "Unmount left the mount in place" || pass "unmounted where it was"
want ok "root: remove r" root Remove r

if harness_as "$owner" unshare -Urm true 2>/dev/null; then
        echo "# root's target: a user's copy counts only while users can reach the target"
        install -d -m 0755 "$T/q/t"
        want ok "root: prepare q" root Prepare q base "@a{ss} {}"
        want ok "root: mount q on a chosen target" root Mount q "$T/q/t" "@as []"
        setpriv --reuid="$(id -u "$owner")" --regid="$(id -g "$owner")" --clear-groups -- \
                unshare -Urm sleep 600 &
        copier=$!
        bg_pids="$bg_pids $(harness_pid_id "$copier")"
        has_root_copy() { grep -q " $T/q/t " "/proc/$copier/mountinfo" 2>/dev/null &&
                [ "$(readlink "/proc/$copier/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; }
        harness_wait_for 300 has_root_copy || fail "the copy did not appear"
        want Busy "root: Unmount while a user's copy can reach the target" root Unmount q
        chmod 0700 "$T/q"
        want ok "root: Unmount once the target is below a directory shut to users" root Unmount q
        stop "$copier"
        want ok "root: remove q" root Remove q
fi

finish
