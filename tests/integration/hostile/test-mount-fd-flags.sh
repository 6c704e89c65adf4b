#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A mount that MountFd hands to a user stays nosuid,nodev: the user attaches it in a mount
# namespace of its own user namespace, where it holds CAP_SYS_ADMIN, and mount_setattr()
# there could clear both on a mount as laminad made it (then a device node of root's layers,
# shown as the user's own through "idmap", would open). laminad hands out a clone whose
# flags the kernel has locked. Against the real laminad and polkitd on a private bus, for a
# plain and an idmapped mount fd on overlayfs and native: clearing nosuid or nodev is refused
# before and after attaching, making the mount read-only still works, the mount shows the
# snapshot's files with nosuid,nodev.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
command -v unshare >/dev/null || harness_skip "unshare (util-linux) is not installed"
hostile_setup --idle-timeout 120
TOOL="$LAMINA_SOURCE_DIR/tests/integration/hostile/mount-fd-flags.py"

USER_A=$(harness_add_user mfdflags)
polkit_private_grant manage-own,mount-own "$USER_A"

line_is() { grep -qx -- "$2" <<<"$1"; }

mkdir -p "$T/layer/etc"
echo hello >"$T/layer/etc/hello"
tar -C "$T/layer" -cf "$T/layer.tar" etc
chmod 0644 "$T/layer.tar"

for sn in overlayfs native; do
        obj=/org/lamina/snapshot1/$sn
        as "$USER_A" busctl --system call org.lamina.snapshot1 "$obj" org.lamina.snapshot1.Snapshotter \
                Prepare 'ssa{ss}' "k-$sn" "" 0 >/dev/null || harness_die "$sn: the user cannot Prepare"
        as "$USER_A" "$LAMINA_BUILD_DIR/src/ctl/laminactl" --snapshotter "$sn" apply "k-$sn" "$T/layer.tar" >/dev/null ||
                harness_die "$sn: the user cannot Apply"
        for opts in "" idmap; do
                what="$sn${opts:+ $opts}"
                target="$T/attach-$sn-${opts:-plain}"
                install -d -o "$USER_A" -m 0755 "$target"
                out=$(as "$USER_A" env LAMINA_SNAPSHOTTER="$sn" timeout 120 /usr/bin/python3 "$TOOL" "k-$sn" "$opts" "$target" 2>&1)
                echo "$out" | sed "s/^/# $what: /"
                check "$what: the user gets a mount fd" line_is "$out" "mount-fd ok"
                for step in clear-nosuid-detached clear-nodev-detached clear-nosuid-attached clear-nodev-attached; do
                        check "$what: $step is refused" line_is "$out" "$step Operation-not-permitted"
                done
                check "$what: the user attaches it in its own namespace" line_is "$out" "attach ok"
                check "$what: it may still make it read-only" line_is "$out" "set-ro-attached ok"
                check "$what: it shows the snapshot's files" line_is "$out" "files etc"
                check "$what: it is nosuid,nodev" grep -q "^options .*nosuid,nodev" <<<"$out"
                # The user's process has ended: the snapshot is free again.
                harness_wait_for 100 as "$USER_A" busctl --system call org.lamina.snapshot1 "$obj" \
                        org.lamina.snapshot1.Snapshotter Unmount s "k-$sn" >/dev/null 2>&1 ||
                        harness_die "$what: the handed-out mount was never released"
        done
done

checks_done
echo "# all checks passed"
