#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The docker part of the real-image corpus (make-docker-image.sh): a private dockerd builds one
# Dockerfile FROM the Debian corpus with the legacy builder and with BuildKit (whiteouts, an
# opaque directory, a file become a directory and back, hard links, UTF-8, setuid, a fifo,
# chown, security.capability, a sparse file) and `docker save`s each; built once and cached by
# the tools' versions. On SNAPSHOTTER ($1) each archive (overlayfs: both; native, whose every
# layer and run is a copy of the tree: the legacy builder's; btrfs: BuildKit's) is imported,
# compared with `umoci unpack` of the same image and (overlayfs) with `docker export` of a
# container made from it (tree-compare.py: zero differences but for what docker's init layer
# adds), and run: the container prints /etc/os-release and honours the Dockerfile's ENV,
# WORKDIR, ENTRYPOINT and CMD. On overlayfs, one `docker save` of both images imports each by
# --name. rmi frees it all.
. "$(dirname "$0")/ctl-lib.sh"
export LAMINA_SNAPSHOTTER=${1:-overlayfs}
need_busybox_nspawn
for t in mmdebstrap umoci skopeo dockerd containerd runc /usr/bin/docker; do
        command -v "$t" >/dev/null || harness_skip "$t is not installed (tools/install-deps.sh installs it)"
done
image_corpus debian "$(dirname "$0")/make-debian-image.sh" < <(mmdebstrap --version; umoci --version; skopeo --version)
image_corpus docker "$(dirname "$0")/make-docker-image.sh" "$corpus/debian-docker.tar" < <(
        dockerd --version; /usr/bin/docker --version; containerd --version; runc --version; skopeo --version)
harness_setup --idle-timeout 120
nspawn_setup

case $LAMINA_SNAPSHOTTER in
overlayfs) builders="legacy buildkit" ;;
native) builders=legacy ;;
*) builders=buildkit ;;
esac
declare -A top
for b in $builders; do
        rm -rf "$T/unpacked"
        umoci unpack --image "$corpus/oci:docker:$b" "$T/unpacked" >/dev/null || harness_die "umoci unpack failed"
        u=$T/unpacked/rootfs/srv/docker
        # What the build made, so that no corner case goes missing from the comparison unseen.
        [ -p "$u/fifo" ] && [ -u "$u/setuid" ] && [ -d "$u/becomes-dir" ] && [ -f "$u/becomes-file" ] &&
                [ -f "$u/ünïcödé dir/hard 3" ] && [ "$(stat -c %h "$u/hard")" = 3 ] &&
                [ "$(stat -c %u:%g "$u/hard")" = 1234:5678 ] && [ -f "$u/opaque/new/file" ] &&
                [ ! -e "$u/opaque/a" ] && [ ! -e "$u/old" ] && [ ! -e "$T/unpacked/rootfs/etc/issue.net" ] &&
                [ -f "$T/unpacked/rootfs/etc/motd/in" ] && [ -L "$T/unpacked/rootfs/usr/share/doc/sed" ] &&
                [ "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "security.capability").hex())' \
                        "$u/capable")" = 0100000200040000000000000000000000000000 ] ||
                harness_die "the $b image lacks its corner cases"
        tar -xOf "$corpus/docker-$b.tar" --wildcards '*/layer.tar' | tar -ti | grep -qx 'srv/docker/opaque/.wh..wh..opq' ||
                harness_die "docker's $b layers hold no opaque directory"

        # docker's own view, on overlayfs (the other backends equal umoci unpack as well): docker's
        # init layer adds these paths to a container when the image lacks them, and `docker
        # export` writes no xattr but security.capability.
        exported=()
        if [ "$LAMINA_SNAPSHOTTER" = overlayfs ]; then
                rm -rf "$T/exported" && mkdir "$T/exported"
                tar --zstd -C "$T/exported" --numeric-owner --xattrs --xattrs-include='*' -xpf \
                        "$corpus/docker-$b-export.tar.zst" || harness_die "the $b export does not extract"
                exported=("docker export" "$T/exported" --no-user-xattrs)
                for p in /.dockerenv /etc/hostname /etc/hosts /etc/resolv.conf /etc/mtab /dev/console /dev/pts \
                        /dev/shm /proc /sys; do
                        exported+=(--ignore "$p")
                done
        fi

        ok "$b: import" -q import "$corpus/docker-$b.tar" --name "docker:$b"
        view_matches_unpack "$b" "docker:$b" "${exported[@]}"
        ok "$b: run" run "docker:$b" --rm -q
        expect "$b: run prints os-release and honours ENV, WORKDIR, ENTRYPOINT and CMD" "$out" \
                'BUILT_BY=docker in /srv/docker
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"'
        if [ "$LAMINA_SNAPSHOTTER" = overlayfs ]; then
                ok "$b: images" --json=short images
                top[$b]=$(json "map(select(.name == \"docker:$b\"))[0].snapshot")
                ok "$b: import from one docker save of both images" -q import "$corpus/docker-both.tar" --name "docker:$b"
                ok "$b: images" --json=short images
                expect "$b: --name chose the image tagged docker:$b" \
                        "$(json "map(select(.name == \"docker:$b\"))[0].snapshot")" "${top[$b]}"
        fi
        ok "$b: rmi" --json=short rmi "docker:$b"
done
[ "$LAMINA_SNAPSHOTTER" != overlayfs ] || [ "${top[legacy]}" != "${top[buildkit]}" ] ||
        fail "the two builders' images have the same top: docker-both.tar cannot tell them apart"
no_run_snapshots "docker"
ok "ls" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
