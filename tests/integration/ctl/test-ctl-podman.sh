#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The podman part of the real-image corpus (make-podman-image.sh: `podman build` FROM the
# Debian corpus adding a layer with PAX headers: UTF-8 names and link targets, a long path;
# `podman save` as oci-archive and docker-archive), built once and cached by the tools'
# versions. Each form is imported on overlayfs and compared with `umoci unpack` of the same
# image (tree-compare.py: zero differences); the image keeps podman's config; rmi frees it.
. "$(dirname "$0")/ctl-lib.sh"
export LAMINA_SNAPSHOTTER=overlayfs
for tool in mmdebstrap umoci skopeo podman; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh installs it)"
done
image_corpus debian "$(dirname "$0")/make-debian-image.sh" < <(mmdebstrap --version; umoci --version; skopeo --version)
image_corpus podman "$(dirname "$0")/make-podman-image.sh" "$corpus/debian-oci.tar" < <(podman --version; umoci --version)
harness_setup --idle-timeout 120

umoci unpack --image "$corpus/oci:podman:test" "$T/unpacked" >/dev/null || harness_die "umoci unpack failed"
[ -e "$T/unpacked/rootfs/srv/podman/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt" ] ||
        harness_die "the podman image lacks its UTF-8 names"
for form in oci-archive docker-archive; do
        case $form in
        oci-archive) source=$corpus/podman-oci.tar ;;
        docker-archive) source=$corpus/podman-docker.tar ;;
        esac
        ok "$form: import" -q import "$source" --name podman:test
        got=$(busctl --system --json=short call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
                org.lamina.snapshot1.Images GetImage s podman:test |
                jq -r '.data[1] | fromjson | [(.config.Env | index("BUILT_BY=podman") != null), .config.WorkingDir] | join(" ")')
        expect "$form: the image keeps podman's Env and WorkingDir" "$got" "true /srv/podman"
        ok "$form: view" view --mount check podman:test
        if [ "$rc" = 0 ]; then
                if python3 "$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py" "$T/unpacked/rootfs" "$out" \
                        >"$T/diff"; then
                        pass "$form: the imported tree equals umoci unpack ($(find "$out" | wc -l) entries)"
                else
                        fail "$form: differs from umoci unpack: $(head -c 4000 "$T/diff")"
                fi
                ok "$form: umount" umount check
                ok "$form: rm view" rm check
        fi
        ok "$form: rmi" --json=short rmi podman:test
        expect "$form: rmi frees the three layers" "$(json '.removed | length')" 3
done
ok "ls" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
