#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl run --rootless (issue 18) on the snapshotter $1, as an unprivileged user with
# /etc/subuid and /etc/subgid ranges (usermod; userdel at cleanup removes them), real polkitd
# granting what an active session gets by default (the guide's group rule):
# - the user imports a busybox image and the real Debian test image (the cached corpus);
# - run --rootless prints uid 0 and /etc/os-release inside, honours the image's Env,
#   WorkingDir and Cmd; `ls -ln /` shows 0:0; the root is nosuid,nodev;
# - files created inside as uid 0 and as uid 1000 (setpriv in Debian, chown in busybox) are
#   stored with image ids 0 and 1000: checked from the host on the snapshot's data;
# - while the container runs (its mount fd handed out), Remove and Commit are Busy; --rm
#   removes it afterwards, --commit commits it;
# - MountFdWithUserNamespace refuses a user namespace of another user, one mapping host ids
#   the user may not use (written by root), the host's, a non-user namespace, and "suid".
. "$(dirname "$0")/ctl-lib.sh"
sn=${1:-overlayfs}
export LAMINA_SNAPSHOTTER=$sn
for tool in newuidmap newgidmap unshare setpriv; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh: uidmap, util-linux)"
done
busybox=$(command -v busybox) || harness_skip "busybox is not installed (busybox-static)"
! ldd "$busybox" >/dev/null 2>&1 || harness_skip "$busybox is not static (install busybox-static)"
for tool in mmdebstrap umoci skopeo; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh installs it)"
done
RUN="$LAMINA_BUILD_DIR/tests/integration/mount/mount-fd-run"
[ -x "$RUN" ] || harness_die "mount-fd-run is not built"
image_corpus debian "$(dirname "$0")/make-debian-image.sh" < <(mmdebstrap --version; umoci --version; skopeo --version)
case "${TMPDIR:-}" in
/var/tmp/lamina-btrfs.*/fs) chmod 0755 "$TMPDIR" "$(dirname "$TMPDIR")" ;;
esac

harness_setup --polkit --idle-timeout 300
harness_install_policy
user=$(harness_add_user rootless)
other=$(harness_add_user other)
plain=$(harness_add_user plain) # no subordinate ranges
harness_install_group_rule "$user" "$other" "$plain"
# Ranges far above any real user's (100000 + 65536 n), one per test user by uid.
for u in "$user" "$other"; do
        s=$((1000000000 + $(id -u "$u") * 65536))
        usermod --add-subuids "$s-$((s + 65535))" --add-subgids "$s-$((s + 65535))" "$u" ||
                harness_die "usermod --add-subuids failed"
done
start=$((1000000000 + $(id -u "$user") * 65536))

pids=""
# PID/START of each background process: the ones killed on the way are not signalled again.
trap '_rc=$?; for p in $pids; do harness_signal_id KILL "$p" || :; done; (exit $_rc); harness_cleanup' EXIT
CTL_AS="harness_as $user"

# The busybox image: Env, WorkingDir and Cmd in its config.
mkdir -p "$T/rootfs/bin" "$T/rootfs/etc" "$T/rootfs/srv/work"
cp "$busybox" "$T/rootfs/bin/busybox"
ln -s busybox "$T/rootfs/bin/sh"
printf 'ID=busybox-test\nPRETTY_NAME="lamina busybox test"\n' >"$T/rootfs/etc/os-release"
make_layer "$T/rootfs" "$T/rootfs.tar"
OCI_CONFIG='{"Env":["PATH=/bin","GREETING=hello"],"WorkingDir":"/srv/work","Cmd":["/bin/sh","-c","echo $GREETING in $(pwd)"]}' \
        make_oci_layout "$T/bb" "busybox" "" "$T/rootfs.tar"
chmod -R a+rX "$T/bb"

# polkitd reads the rules file a moment after it appears.
CTL_AS="harness_as $user" harness_wait_for 100 ctl_succeeds -q prepare rule-probe || fail "the group rule did not take effect"
ok "user: rm the probe" rm rule-probe
fails "--rootless with --boot" 2 "without systemd-nspawn" run --rootless --boot bb
fails "--rootless with --user" 2 "leave out --user" run --rootless --user 0 bb
ok "user: import busybox" -q import "$T/bb" --name bb
ok "user: run --rootless with the image's Cmd" run --rootless bb --rm -q
expect "Env, WorkingDir and Cmd are the image's" "$out" "hello in /srv/work"
ok "user: run --rootless: uid, os-release" run --rootless bb --rm -q -- /bin/sh -c 'id -u; id -g; cat /etc/os-release'
expect "uid 0 and os-release inside" "$out" '0
0
ID=busybox-test
PRETTY_NAME="lamina busybox test"'
# /proc's root belongs to host root in any user namespace (nobody inside, as with podman).
ok "user: run --rootless ls -ln /" run --rootless bb --rm -q -- /bin/busybox ls -ln /
expect "ls -ln / shows 0:0 for all but /proc ($(printf '%s' "$out" | tr '\n' ' '))" \
        "$(printf '%s\n' "$out" | awk 'NR > 1 && $9 != "proc" { print $3 ":" $4 }' | sort -u)" "0:0"
ok "user: run --rootless: mounts" run --rootless bb --rm -q -- /bin/busybox cat /proc/self/mountinfo
root_opts=$(printf '%s\n' "$out" | awk '$5 == "/" { print $6 }' | head -1)
case ",$root_opts," in
*,nosuid,*nodev,* | *,nodev,*nosuid,*) pass "the root is nosuid,nodev ($root_opts)" ;;
*) fail "the root is not nosuid,nodev: $root_opts ($out)" ;;
esac
for d in /proc /dev /tmp /dev/pts; do
        printf '%s\n' "$out" | awk -v d="$d" '$5 == d { found = 1 } END { exit !found }' &&
                pass "$d is mounted" || fail "$d is not mounted: $out"
done
ok "user: only standard input, output and error are open inside" run --rootless bb --rm -q -- /bin/busybox ls /proc/self/fd 7</dev/null
expect "fds inside (ls has 3 open itself)" "$(printf '%s' "$out" | tr '\n' ' ')" "0 1 2 3"
ok "user: /dev/null and /dev/urandom work" run --rootless bb --rm -q -- /bin/sh -c \
        'echo x >/dev/null && head -c 4 /dev/urandom | wc -c'
expect "four random bytes" "$(printf '%s' "$out" | tr -d ' ')" 4
if command -v script >/dev/null; then
        # On a terminal (script's pty, the user's own): it is /dev/console inside.
        out=$(harness_as "$user" script -qec "'$LAMINACTL' run --rootless bb --rm -q -- /bin/sh -c 'tty; stat -c %u /dev/console'" /dev/null </dev/null 2>&1 | tr -d '\r')
        expect "on a terminal, tty is /dev/console, the user's own as 0" "$(printf '%s\n' "$out" | grep -A1 '^/dev/console$')" "/dev/console
0"
fi
fails "user: a command that is not there" 127 "cannot run /nonexistent" run --rootless bb --rm -q -- /nonexistent
ctl --json=short ls
expect "--rm left no snapshot" "$(json 'map(select(.kind != "committed") | .name)')" "[]"

echo "# files created inside are stored with image ids"
ok "user: run --rootless, creating files as 0 and chowning one to 1000" run --rootless bb --name bbkeep -q -- \
        /bin/sh -c 'echo a >/by0 && echo b >/by1000 && chown 1000:1000 /by1000 && mkdir /d && chown 1000:1000 /d'
ok "user: mount the kept snapshot" mount bbkeep
m=$out
expect "on disk: image ids 0 and 1000" "$(stat -c %u:%g "$m/by0" "$m/by1000" "$m/d" | tr '\n' ' ')" "0:0 1000:1000 1000:1000 "
ok "user: umount" umount bbkeep
ok "user: commit the kept snapshot" commit bbkept bbkeep

echo "# a running container keeps Remove and Commit busy"
# setpriv in the background, not harness_as: $! is then the command's PID (setpriv execs it).
ids() { echo "--reuid=$(id -u "$1") --regid=$(id -g "$1") --clear-groups"; }
# shellcheck disable=SC2046
setpriv $(ids "$user") -- "$LAMINACTL" run --rootless bb --name busy --rm -q -- \
        /bin/sh -c 'trap "exit 0" TERM; echo ready; while :; do sleep 1; done' >"$T/busy.out" 2>&1 &
p=$!
pids="$pids $(harness_pid_id "$p")"
running() { grep -q ready "$T/busy.out"; }
harness_wait_for 300 running || fail "the container did not start: $(cat "$T/busy.out")"
fails "user: Remove while the container runs" 1 "Busy|busy|in use" rm busy
fails "user: Commit while the container runs" 1 "Busy|busy|in use" commit c busy
kill -TERM "$p"
wait "$p"
expect "laminactl ends with the container's status after SIGTERM" "$?" 0
ctl --json=short ls
expect "--rm removed it once it ended" "$(json 'map(select(.name == "busy")) | length')" 0

echo "# the container goes with laminactl"
# shellcheck disable=SC2046
setpriv $(ids "$user") -- "$LAMINACTL" run --rootless bb --name killed -q -- \
        /bin/sh -c 'echo ready; while :; do sleep 1; done' >"$T/killed.out" 2>&1 &
p=$!
pids="$pids $(harness_pid_id "$p")"
killed_running() { grep -q ready "$T/killed.out"; }
harness_wait_for 300 killed_running || fail "the container did not start: $(cat "$T/killed.out")"
kill -KILL "$p"
wait "$p" 2>/dev/null
removed() { harness_as "$user" "$LAMINACTL" rm killed >/dev/null 2>&1; }
harness_wait_for 300 removed && pass "its snapshot is released once laminactl is killed (Remove works)" ||
        fail "the snapshot stayed busy after laminactl was killed"

echo "# --commit"
ok "user: run --rootless --commit" run --rootless bb --name cm --commit bbcommitted -q -- /bin/sh -c 'echo c >/committed'
ok "user: view the commit" view --mount cmview bbcommitted
expect "the commit has the file" "$(cat "$out/committed")" "c"
ok "user: umount" umount cmview
ok "user: rm the view" rm cmview

echo "# the real Debian image"
# The user imports it: its device nodes (/dev/console...), which only root's layers may
# make, are skipped.
ok "user: import Debian" -q import "$corpus/debian-oci.tar" --name debian:test
ok "user: run --rootless Debian with its config" run --rootless debian:test --rm -q
expect "Debian: os-release, Env, WorkingDir and Cmd" "$out" 'FOO=from-config in /srv/corpus
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"'
# Its Entrypoint is ["/bin/sh", "-c"]: the command given is the script.
ok "user: run --rootless Debian: uid 0, ls -ln /" run --rootless debian:test --rm -q -- 'id -u; ls -ln / | awk "NR > 1 && \$9 != \"proc\" { print \$3 \":\" \$4 }" | sort -u'
expect "Debian: uid 0, everything in / is 0:0" "$out" "0
0:0"
ok "user: run --rootless Debian: files as 0 and as 1000 (setpriv)" run --rootless debian:test --name debkeep -q -- \
        'touch /by0 && mkdir /home/u && chown 1000:1000 /home/u && setpriv --reuid=1000 --regid=1000 --clear-groups touch /home/u/by1000 && setpriv --reuid=1000 --regid=1000 --clear-groups id -u'
expect "setpriv ran as 1000" "$out" "1000"
ok "user: mount the Debian snapshot" mount debkeep
m=$out
expect "Debian on disk: image ids 0 and 1000" "$(stat -c %u:%g "$m/by0" "$m/home/u/by1000" | tr '\n' ' ')" "0:0 1000:1000 "
ok "user: umount" umount debkeep
ok "user: rm" rm debkeep

echo "# user namespaces that are not the caller's to pass"
ok "user: prepare a target" prepare nsk bb
write_map() { # PID FILE TEXT: in one write(2), as a map must be written
        python3 -c 'import sys; open(sys.argv[1], "w").write(sys.argv[2] + "\n")' "/proc/$1/$2" "$3"
}
call_fd() { # USER OPTIONS [REDIRECT...]: mount-fd-run hold true; $got "ok" or the error
        got=$(harness_as "$1" "$RUN" "/org/lamina/snapshot1/$sn" nsk "$2" hold true 2>&1)
        [ $? = 0 ] && got=ok
}
setpriv $(ids "$other") -- unshare --user --map-root-user sleep 600 &
op=$!
pids="$pids $(harness_pid_id "$op")"
has_ns() { [ "$(readlink "/proc/$op/ns/user")" != "$(readlink /proc/self/ns/user)" ]; }
harness_wait_for 100 has_ns || fail "the other user's namespace did not appear"
call_fd "$user" "userns=fd:3" 3<"/proc/$op/ns/user"
case "$got" in
"error AccessDenied: "*"belongs to uid $(id -u "$other"), not to the caller"*) pass "another user's namespace is refused ($got)" ;;
*) fail "another user's namespace: $got" ;;
esac
kill -KILL "$op"
setpriv $(ids "$user") -- unshare --user sleep 600 &
up=$!
pids="$pids $(harness_pid_id "$up")"
has_own() { [ "$(readlink "/proc/$up/ns/user")" != "$(readlink /proc/self/ns/user)" ]; }
harness_wait_for 100 has_own || fail "the user's namespace did not appear"
call_fd "$user" "userns=/proc/$up/ns/user"
case "$got" in
"error InvalidArgument: "*"maps no uids"*) pass "a namespace mapping nothing is refused ($got)" ;;
*) fail "a namespace mapping nothing: $got" ;;
esac
write_map "$up" uid_map "0 0 1" && write_map "$up" gid_map "0 $(id -g "$user") 1" ||
        fail "root could not write the maps"
call_fd "$user" "userns=/proc/$up/ns/user"
case "$got" in
"error AccessDenied: "*"maps host uids 0-0, which the caller may not use"*) pass "a namespace mapping host root is refused ($got)" ;;
*) fail "a namespace mapping host root: $got" ;;
esac
kill -KILL "$up"
setpriv $(ids "$user") -- unshare --user sleep 600 &
up=$!
pids="$pids $(harness_pid_id "$up")"
harness_wait_for 100 has_own || fail "the user's namespace did not appear"
ostart=$((1000000000 + $(id -u "$other") * 65536))
write_map "$up" uid_map "0 $(id -u "$user") 1
1 $ostart 10" && write_map "$up" gid_map "0 $(id -g "$user") 1" || fail "root could not write the maps"
call_fd "$user" "userns=/proc/$up/ns/user"
case "$got" in
"error AccessDenied: "*"maps host uids $ostart-$((ostart + 9))"*) pass "another user's subordinate ids are refused ($got)" ;;
*) fail "another user's subordinate ids: $got" ;;
esac
call_fd "$user" "suid,userns=/proc/$up/ns/user"
case "$got" in
"error InvalidArgument: "*suid*) pass "suid is refused with a user namespace too ($got)" ;;
*) fail "suid with a user namespace: $got" ;;
esac
kill -KILL "$up"
call_fd "$user" "userns=fd:3" 3</proc/self/ns/user
case "$got" in
"error AccessDenied: "*"host's"*) pass "the host's namespace is refused ($got)" ;;
*) fail "the host's namespace: $got" ;;
esac
call_fd "$user" "userns=fd:3" 3</proc/self/ns/net
case "$got" in
"error InvalidArgument: "*"network namespace"*) pass "a network namespace is refused ($got)" ;;
*) fail "a network namespace: $got" ;;
esac
echo "# MountWithUserNamespace: the user's own namespace (its uid as 0), attached by laminad"
setpriv $(ids "$user") -- unshare --user --map-root-user sleep 600 &
up=$!
pids="$pids $(harness_pid_id "$up")"
harness_wait_for 100 has_own || fail "the user's namespace did not appear"
got=$(harness_as "$user" "$RUN" "/org/lamina/snapshot1/$sn" nsk "userns=fd:3" mount 3<"/proc/$up/ns/user" 2>&1)
m=$got
if [ -d "$m" ]; then
        expect "through it the image's root files show as the user's uid" \
                "$(stat -c %u:%g "$m/etc/os-release")" "$(id -u "$user"):$(id -g "$user")"
        case ",$(findmnt -rn -o OPTIONS --mountpoint "$m")," in
        *,nosuid,*nodev,* | *,nodev,*nosuid,*) pass "nosuid,nodev" ;;
        *) fail "not nosuid,nodev: $(findmnt -rn -o OPTIONS --mountpoint "$m")" ;;
        esac
        ok "user: unmount it" umount nsk
else
        fail "MountWithUserNamespace: $got"
fi
kill -KILL "$up"
ok "user: rm the target" rm nsk

echo "# a user without subordinate ranges: only id 0 is mapped"
CTL_AS="harness_as $plain" ok "plain: import busybox" -q import "$T/bb" --name bb
CTL_AS="harness_as $plain" ok "plain: run --rootless" run --rootless bb --rm -q -- \
        /bin/sh -c 'id -u; chown 1000 /etc/os-release 2>/dev/null && echo chowned || echo refused'
expect "plain: uid 0 inside, no other id to give" "$out" "0
refused"
CTL_AS="harness_as $plain" ctl run --rootless bb --rm -- /bin/true
expect "plain: laminactl says what is missing" "$(printf '%s\n' "$err" | grep -c 'has no range for')" 2
CTL_AS="harness_as $plain" ok "plain: rmi" -q rmi bb

ok "user: rm what it committed" rm bbkept bbcommitted
ok "user: rmi" -q rmi bb
ok "user: rmi Debian" -q rmi debian:test
# Data is freed in the background: wait for it (btrfs: read-only subvolumes the harness's rm
# cannot remove).
for u in "$user" "$plain"; do
        CTL_AS="harness_as $u" ok "$u: cleanup" -q cleanup
done
CTL_AS="" ok "root: cleanup" -q cleanup
finish
