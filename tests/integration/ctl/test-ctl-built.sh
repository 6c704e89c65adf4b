#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-ctl-built.sh TOOL: the parts of the real-image corpus that podman or buildah build FROM
# the Debian corpus, built once and cached by the tools' versions:
#   podman  (make-podman-image.sh): `podman build` adding a layer that Go's archive/tar writes
#           with PAX headers (UTF-8 names and link targets, a long path); `podman save` as
#           oci-archive and docker-archive;
#   buildah (make-buildah-image.sh): `buildah from`, changes in the mounted root that buildah's
#           commit turns into a layer (whiteouts, a directory become a link, a file become a
#           directory, UTF-8, xattrs, odd modes, mtime 0, a large uid); `buildah push` as OCI
#           layout (gzip layers), oci-archive and docker-archive.
# Each form is imported on overlayfs and compared with `umoci unpack` of the same image
# (tree-compare.py: zero differences); the image keeps the tool's config; rmi frees it.
. "$(dirname "$0")/ctl-lib.sh"
tool=${1:?usage: test-ctl-built.sh podman|buildah}
export LAMINA_SNAPSHOTTER=overlayfs
for t in mmdebstrap umoci skopeo "$tool"; do
        command -v "$t" >/dev/null || harness_skip "$t is not installed (tools/install-deps.sh installs it)"
done
image_corpus debian "$(dirname "$0")/make-debian-image.sh" < <(mmdebstrap --version; umoci --version; skopeo --version)
image_corpus "$tool" "$(dirname "$0")/make-$tool-image.sh" "$corpus/debian-oci.tar" < <("$tool" --version; umoci --version)
harness_setup --idle-timeout 120

case $tool in
podman)
        utf8=srv/podman/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt
        forms="oci-archive docker-archive" ;;
buildah)
        utf8="srv/buildah/ünï cödé/Főtanúsítvány.crt"
        forms="layout oci-archive docker-archive" ;;
*)
        harness_die "unknown tool $tool" ;;
esac
umoci unpack --image "$corpus/oci:$tool:test" "$T/unpacked" >/dev/null || harness_die "umoci unpack failed"
[ -e "$T/unpacked/rootfs/$utf8" ] || harness_die "the $tool image lacks its UTF-8 names"
for form in $forms; do
        case $form in
        layout) source=$corpus/oci ;;
        oci-archive) source=$corpus/$tool-oci.tar ;;
        docker-archive) source=$corpus/$tool-docker.tar ;;
        esac
        ok "$form: import" -q import "$source" --name "$tool:test"
        got=$(busctl --system --json=short call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
                org.lamina.snapshot1.Images GetImage s "$tool:test" |
                jq -r --arg env "BUILT_BY=$tool" \
                        '.data[1] | fromjson | [(.config.Env | index($env) != null), .config.WorkingDir] | join(" ")')
        expect "$form: the image keeps $tool's Env and WorkingDir" "$got" "true /srv/$tool"
        view_matches_unpack "$form" "$tool:test"
        ok "$form: rmi" --json=short rmi "$tool:test"
        expect "$form: rmi frees the three layers" "$(json '.removed | length')" 3
done
ok "ls" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
