#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-podman-image.sh DIR BASE: builds the podman part of the real-image corpus into DIR
# (which must not exist): `podman build` (buildah inside; root, no systemd: cgroupfs, events in
# a file, vfs storage in a private root that is removed afterwards) of an image FROM BASE (an
# oci-archive: the Debian corpus) adding a layer that Go's archive/tar writes with PAX
# headers: UTF-8 names and link targets, a path longer than ustar's 255 bytes, and a config
# (Env, WorkingDir, Cmd); `podman save` exports it as DIR/podman-oci.tar (oci-archive) and
# DIR/podman-docker.tar (docker-archive), and DIR/oci is the oci-archive unpacked (an OCI
# layout, tag podman:test) for `umoci unpack`. No RUN step: nothing needs a runtime.
set -euo pipefail
out=${1:?usage: make-podman-image.sh DIR BASE}
base=${2:?usage: make-podman-image.sh DIR BASE}
work=$(mktemp -d /var/tmp/lamina-podman.XXXXXX)
P=(podman --root "$work/storage" --runroot "$work/run" --storage-driver vfs --cgroup-manager=cgroupfs
   --events-backend=file)
trap 'rm -rf --one-file-system "$work"' EXIT

ctx="$work/ctx"
mkdir -p "$ctx/certs" "$ctx/ünïcödé dir"
echo "Főtanúsítvány" >"$ctx/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt"
echo "日本語" >"$ctx/ünïcödé dir/日本語.txt"
long="$ctx/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})"
mkdir -p "$long"
echo long >"$long/$(printf 'f%.0s' {1..150})-ü"
ln -s "certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt" "$ctx/link-ő"
ln "$ctx/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt" "$ctx/hard-ű"
cat >"$work/Containerfile" <<EOC
FROM oci-archive:$base
COPY ctx/ /srv/podman/
ENV BUILT_BY=podman
WORKDIR /srv/podman
CMD ["/bin/sh", "-c", "echo \"BUILT_BY=\$BUILT_BY in \$(pwd)\"; ls certs"]
EOC
"${P[@]}" build -q -t podman:test -f "$work/Containerfile" "$work" >/dev/null
mkdir "$work/out" "$work/out/oci"
"${P[@]}" save -q --format oci-archive -o "$work/out/podman-oci.tar" podman:test
"${P[@]}" save -q --format docker-archive -o "$work/out/podman-docker.tar" podman:test
tar -C "$work/out/oci" -xf "$work/out/podman-oci.tar"
# podman names it localhost/podman:test; umoci takes a tag without a slash.
jq -c '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "podman:test"' \
        "$work/out/oci/index.json" >"$work/index.json"
mv "$work/index.json" "$work/out/oci/index.json"
mkdir -p "$(dirname "$out")"
mv -T "$work/out" "$out"
