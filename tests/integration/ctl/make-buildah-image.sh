#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-buildah-image.sh DIR BASE: builds the buildah part of the real-image corpus into DIR
# (which must not exist): `buildah from` BASE (an oci-archive: the Debian corpus), changes made
# in the container's mounted root (vfs storage in a private root, removed afterwards) that
# buildah's commit turns into a layer by comparing trees: files and directories deleted
# (whiteouts), a directory replaced by a symbolic link, a file replaced by a directory, hard
# links across directories, UTF-8 names, user.* xattrs, modes 000/1777/2755, an mtime of 0, a
# uid above 65535; `buildah config` (Env, WorkingDir, Cmd, User) and `buildah commit`.
# `buildah push` exports it as DIR/oci (OCI layout, gzip layers, tag buildah:test),
# DIR/buildah-oci.tar (oci-archive) and DIR/buildah-docker.tar (docker-archive). No `buildah
# run`: nothing needs a runtime.
set -euo pipefail
out=${1:?usage: make-buildah-image.sh DIR BASE}
base=${2:?usage: make-buildah-image.sh DIR BASE}
work=$(mktemp -d /var/tmp/lamina-buildah.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
        [ -z "${ctr:-}" ] || "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
        "${B[@]}" rmi -af >/dev/null 2>&1 || true
        rm -rf --one-file-system "$work"
}
trap cleanup EXIT

ctr=$("${B[@]}" from -q "oci-archive:$base")
R=$("${B[@]}" mount "$ctr")
setxattr() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))' "$@"; }
rm -f "$R/etc/motd"                                          # a file of the base deleted
rm -rf "$R/usr/share/doc/dpkg"                               # a directory of the base deleted
rm -rf "$R/usr/share/doc/sed" && ln -s ../doc-sed "$R/usr/share/doc/sed"   # a directory became a link
mkdir -p "$R/usr/share/doc-sed"
rm -f "$R/etc/hostname" && mkdir "$R/etc/hostname" && echo inside >"$R/etc/hostname/file"  # a file became a dir
rm -rf "$R/srv/corpus/dir with space"                        # the umoci layer's directory deleted
mkdir -p "$R/srv/buildah/ünï cödé" "$R/srv/buildah/other"
echo "Főtanúsítvány" >"$R/srv/buildah/ünï cödé/Főtanúsítvány.crt"
ln "$R/srv/buildah/ünï cödé/Főtanúsítvány.crt" "$R/srv/buildah/other/hard-ű"
ln -s "ünï cödé/Főtanúsítvány.crt" "$R/srv/buildah/link-ő"
echo x >"$R/srv/buildah/xattrs"
setxattr "$R/srv/buildah/xattrs" user.buildah 6275696c646168
echo secret >"$R/srv/buildah/mode-000" && chmod 000 "$R/srv/buildah/mode-000"
mkdir "$R/srv/buildah/sticky" && chmod 1777 "$R/srv/buildah/sticky"
mkdir "$R/srv/buildah/setgid" && chmod 2755 "$R/srv/buildah/setgid"
echo old >"$R/srv/buildah/epoch" && touch -h -d @0 "$R/srv/buildah/epoch"
echo big >"$R/srv/buildah/big-uid" && chown 100000:100001 "$R/srv/buildah/big-uid"
"${B[@]}" umount "$ctr" >/dev/null
"${B[@]}" config --env BUILT_BY=buildah --workingdir /srv/buildah --user 0:0 \
        --cmd '["/bin/sh", "-c", "echo \"BUILT_BY=$BUILT_BY in $(pwd)\"; ls"]' "$ctr"
"${B[@]}" commit -q --format oci --rm "$ctr" buildah:test >/dev/null
ctr=
mkdir "$work/out"
"${B[@]}" push -q buildah:test "oci:$work/out/oci:buildah:test"
"${B[@]}" push -q buildah:test "oci-archive:$work/out/buildah-oci.tar:buildah:test"
"${B[@]}" push -q buildah:test "docker-archive:$work/out/buildah-docker.tar:buildah:test"
mkdir -p "$(dirname "$out")"
mv -T "$work/out" "$out"
