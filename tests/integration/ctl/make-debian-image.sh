#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-debian-image.sh DIR: builds the real-image corpus into DIR (which must not exist) with
# real tools: mmdebstrap makes a Debian bookworm minbase root file system; umoci turns it into
# an OCI image (layer 1) and adds a layer of corner cases (layer 2: files and directories
# added, replaced and deleted, a directory deleted and made again, hard links, symbolic links,
# UTF-8 and spaces in names, xattrs user.* and security.capability, setuid, a character
# device, a fifo, a sparse file) and a config (Entrypoint, Cmd, Env, WorkingDir); skopeo
# exports it as oci-archive and docker-archive. DIR/oci (layout, tag debian:test),
# DIR/debian-oci.tar, DIR/debian-docker.tar. Exit 77 when the Debian mirror is unreachable.
set -euo pipefail
out=${1:?usage: make-debian-image.sh DIR}
work=$(mktemp -d /var/tmp/lamina-debian.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT

if ! mmdebstrap --variant=minbase --quiet bookworm "$work/rootfs.tar"; then
        echo "make-debian-image: mmdebstrap failed; is the Debian mirror reachable?" >&2
        exit 77
fi
img="$work/oci"
umoci init --layout "$img"
umoci new --image "$img:t"
umoci unpack --image "$img:t" "$work/bundle" >/dev/null
R="$work/bundle/rootfs"
tar -C "$R" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/rootfs.tar"
umoci repack --refresh-bundle --image "$img:t" "$work/bundle" >/dev/null

# Layer 2: the corner cases.
setxattr() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))' "$@"; }
echo "replaced" >"$R/etc/debian_version"                  # a file replaced
rm -f "$R/etc/issue.net"                                  # a file deleted
rm -rf "$R/usr/share/doc/apt"                             # a directory deleted
rm -rf "$R/usr/share/doc/bash" && mkdir -p "$R/usr/share/doc/bash/new"   # deleted and made again
echo again >"$R/usr/share/doc/bash/new/file"
rm -rf "$R/var/log/apt" && echo "now a file" >"$R/var/log/apt"           # a directory became a file
mkdir -p "$R/srv/corpus/dir with space"
echo "Főtanúsítvány" >"$R/srv/corpus/dir with space/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt"
echo linked >"$R/srv/corpus/hard"
ln "$R/srv/corpus/hard" "$R/srv/corpus/hard-2"
ln "$R/srv/corpus/hard" "$R/srv/corpus/dir with space/hard-3"
ln -s "dir with space" "$R/srv/corpus/symlink"
ln -s /nonexistent/target "$R/srv/corpus/dangling"
echo x >"$R/srv/corpus/xattrs"
setxattr "$R/srv/corpus/xattrs" user.lamina 6c616d696e61
# security.capability v2: cap_net_bind_service (bit 10), permitted and effective.
cp "$R/bin/true" "$R/srv/corpus/capable"
setxattr "$R/srv/corpus/capable" security.capability 0100000200040000000000000000000000000000
cp "$R/bin/true" "$R/srv/corpus/setuid" && chmod 4755 "$R/srv/corpus/setuid"
mknod "$R/srv/corpus/null" c 1 3
mkfifo "$R/srv/corpus/fifo"
truncate -s 64M "$R/srv/corpus/sparse" && echo end >>"$R/srv/corpus/sparse"
chown 1234:5678 "$R/srv/corpus/hard"
umoci repack --refresh-bundle --image "$img:t" "$work/bundle" >/dev/null
umoci config --image "$img:t" --tag debian:test --config.entrypoint /bin/sh --config.entrypoint -c \
        --config.cmd 'echo "FOO=$FOO in $(pwd)"; grep ^PRETTY_NAME= /etc/os-release' \
        --config.env FOO=from-config --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        --config.workingdir /srv/corpus
umoci rm --image "$img:t"
umoci gc --layout "$img"
skopeo copy --quiet "oci:$img:debian:test" "oci-archive:$work/debian-oci.tar:debian:test"
skopeo copy --quiet "oci:$img:debian:test" "docker-archive:$work/debian-docker.tar:debian:test"
mkdir -p "$(dirname "$out")"
mkdir "$work/out"
mv "$img" "$work/debian-oci.tar" "$work/debian-docker.tar" "$work/out/"
mv -T "$work/out" "$out"
