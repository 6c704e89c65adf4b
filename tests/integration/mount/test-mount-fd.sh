#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# MountFd (issue 18) on the snapshotter $1, real polkitd granting two unprivileged users
# what an active session gets by default (the guide's group rule):
# - another user cannot get a mount fd of the owner's snapshot, nor see it in ListMounts;
# - while the owner's process holds the fd: ListMounts shows it with an empty path, Remove,
#   Commit and Mount are Busy; once the process is gone Mount works again;
# - "idmap", attached with move_mount in the owner's own user and mount namespace (its uid
#   as 0): it reads the image, the image's root shows as 0:0 inside, nosuid,nodev; what it
#   writes is stored with image id 0; Remove is Busy while the namespace lives and succeeds
#   once it is gone;
# - "suid" is refused for non-root callers;
# - the fd of a snapshot over 500 layers (root's chain) attaches, idmapped, and reads the
#   bottom layer.
. "$LAMINA_SOURCE_DIR/tests/integration/ctl/ctl-lib.sh"
sn=${1:?usage: test-mount-fd.sh SNAPSHOTTER}
RUN="$LAMINA_BUILD_DIR/tests/integration/mount/mount-fd-run"
[ -x "$RUN" ] || harness_die "mount-fd-run is not built"
. "$HARNESS_LIB/mount-users.sh"

# run_fd USER KEY OPTIONS MODE ARGS...: mount-fd-run as USER in the background, its output
# in $T/run.out; its PID in $p. CMD touches $T/shared/ready when it is there.
run_fd() {
        local u=$1
        shift
        rm -f "$T/run.out" "$T/shared/ready"
        setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- \
                "$RUN" "$OBJ" "$@" >"$T/run.out" 2>&1 &
        p=$!
        bg_pids="$bg_pids $(harness_pid_id "$p")"
}

python3 - "$T/base.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name, kind, mode, data in [("w", tarfile.DIRTYPE, 0o1777, None),
                                   ("orig.txt", tarfile.REGTYPE, 0o644, b"orig\n")]:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode = kind, mode
        if data is not None:
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
PY
chmod 0644 "$T/base.tar"
ok "root: prepare the base" -s "$sn" prepare base-work
ok "root: apply the base" -s "$sn" apply base-work "$T/base.tar"
ok "root: commit the base" -s "$sn" commit base base-work
install -d -m 0777 "$T/shared"
install -d -o "$owner" -m 0700 "$T/att"

rule_active() {
        call "$owner" Prepare a base "@a{ss} {}"
        [ "$got" = ok ]
}
harness_wait_for 300 rule_active && pass "owner: prepare a" || fail "the group rule did not take effect: $msg"

echo "# another user can neither get nor see it"
harness_as "$other" "$RUN" "$OBJ" a - hold true >"$T/other.out" 2>&1
expect "other: MountFd of the owner's key" "$(sed 's/:.*//' "$T/other.out")" "error NotFound"
harness_as "$owner" "$RUN" "$OBJ" a suid hold true >"$T/suid.out" 2>&1
expect "owner: MountFd with suid" "$(sed 's/:.*//' "$T/suid.out")" "error InvalidArgument"

echo "# a held fd keeps the snapshot busy"
run_fd "$owner" a - hold sh -c "touch '$T/shared/ready'; exec sleep 600"
fdready() { [ -e "$T/shared/ready" ]; }
harness_wait_for 100 fdready || fail "the holder did not get its fd: $(cat "$T/run.out")"
call "$owner" ListMounts
case "$msg" in *"('a', '', "*) pass "ListMounts shows it handed out ($msg)" ;; *) fail "ListMounts: $msg" ;; esac
call "$other" ListMounts
case "$msg" in *"'a'"*) fail "another user sees it: $msg" ;; *) pass "another user does not see it ($msg)" ;; esac
want Busy "owner: Remove while the fd lives" "$owner" Remove a
case "$msg" in *"mount fd"*) pass "the message says it was handed out" ;; *) fail "message: $msg" ;; esac
want Busy "owner: Commit while the fd lives" "$owner" Commit c a "@a{ss} {}"
want Busy "owner: Mount while the fd lives" "$owner" Mount a "" "@as []"
stop "$p"
want_soon ok "owner: Mount once the holder is gone" "$owner" Mount a "" "@as []"
want ok "owner: Unmount" "$owner" Unmount a

echo "# idmap, attached in the owner's own user and mount namespace"
D=$T/att
run_fd "$owner" a idmap attach "$D" sh -c "
        cat '$D/orig.txt'; id -u; stat -c %u:%g '$D' '$D/orig.txt'
        grep ' $D ' /proc/self/mountinfo | cut -d' ' -f6
        echo new >'$D/created' && mkdir '$D/dir' && touch '$T/shared/ready'; exec sleep 600"
harness_wait_for 100 fdready || fail "the attached process did not get there: $(cat "$T/run.out")"
out=$(cat "$T/run.out")
expect "it reads the image" "$(sed -n 1p <<<"$out")" "orig"
expect "it runs as uid 0 inside" "$(sed -n 2p <<<"$out")" "0"
expect "the image's root and files show as 0:0" "$(sed -n 3,4p <<<"$out" | tr '\n' ' ')" "0:0 0:0 "
case ",$(sed -n 5p <<<"$out")," in
*,nosuid,*) ;;
*) fail "not nosuid: $(sed -n 5p <<<"$out")" ;;
esac
case ",$(sed -n 5p <<<"$out")," in
*,nodev,*) pass "nosuid,nodev ($(sed -n 5p <<<"$out"))" ;;
*) fail "not nodev: $(sed -n 5p <<<"$out")" ;;
esac
want Busy "owner: Remove while the attached copy lives" "$owner" Remove a
want Busy "owner: Commit while the attached copy lives" "$owner" Commit c a "@a{ss} {}"
stop "$p"
# root sees the owner's snapshot only in the owner's namespace: mount it as the owner.
want_soon ok "owner: Mount once the namespace is gone" "$owner" Mount a "" "@as []"
m=$(printf '%s' "$msg" | sed -n "s/^('\(.*\)',)$/\1/p")
expect "what it created is stored with image id 0" "$(stat -c %u:%g "$m/created" "$m/dir" | tr '\n' ' ')" "0:0 0:0 "
want ok "owner: Unmount" "$owner" Unmount a
want ok "owner: Remove" "$owner" Remove a

echo "# a chain of 500 layers"
parent=base
for i in $(seq 1 499); do
        "$LAMINACTL" -s "$sn" prepare "cw$i" "$parent" >/dev/null &&
                "$LAMINACTL" -s "$sn" commit "c$i" "cw$i" >/dev/null || { fail "building layer $i"; break; }
        parent=c$i
done
want ok "owner: prepare over the 500th layer" "$owner" Prepare top c499 "@a{ss} {}"
run_fd "$owner" top idmap attach "$D" sh -c "cat '$D/orig.txt' && touch '$T/shared/ready'; exec sleep 600"
harness_wait_for 200 fdready || fail "the chain's fd did not attach: $(cat "$T/run.out")"
expect "the chain's bottom layer reads through the fd" "$(cat "$T/run.out")" "orig"
want Busy "owner: Remove while the chain's copy lives" "$owner" Remove top
stop "$p"
want_soon ok "owner: Remove the chain's top once it is gone" "$owner" Remove top

finish
