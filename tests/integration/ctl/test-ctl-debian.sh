#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real-image corpus (make-debian-image.sh: Debian bookworm minbase by mmdebstrap, a layer
# of corner cases by umoci, exported by skopeo), built once and cached in
# $LAMINA_TEST_IMAGE_CACHE (default /var/cache/lamina-test-images) under a key of the tools'
# versions. On SNAPSHOTTER ($1): each form (overlayfs: OCI layout, oci-archive and
# docker-archive, one after the other; other backends: docker-archive) is imported, compared
# with `umoci unpack` of the same image (tree-compare.py: zero differences), and run: the
# container prints /etc/os-release and honours Env, WorkingDir and Cmd. Then rmi frees it all.
. "$(dirname "$0")/ctl-lib.sh"
export LAMINA_SNAPSHOTTER=${1:-overlayfs}
need_busybox_nspawn
for tool in mmdebstrap umoci skopeo; do
        command -v "$tool" >/dev/null || harness_skip "$tool is not installed (tools/install-deps.sh installs it)"
done
image_corpus debian "$(dirname "$0")/make-debian-image.sh" < <(mmdebstrap --version; umoci --version; skopeo --version)
harness_setup --idle-timeout 120
nspawn_setup

umoci unpack --image "$corpus/oci:debian:test" "$T/unpacked" >/dev/null || harness_die "umoci unpack failed"
forms="docker-archive"
[ "$LAMINA_SNAPSHOTTER" = overlayfs ] && forms="layout oci-archive docker-archive"
for form in $forms; do
        case $form in
        layout) source=$corpus/oci ;;
        oci-archive) source=$corpus/debian-oci.tar ;;
        docker-archive) source=$corpus/debian-docker.tar ;;
        esac
        ok "$form: import" -q import "$source" --name debian:test
        view_matches_unpack "$form" debian:test
        ok "$form: run" run debian:test --rm -q
        expect "$form: run prints os-release and honours Env, WorkingDir, Cmd" "$out" \
                'FOO=from-config in /srv/corpus
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"'
        ok "$form: rmi" --json=short rmi debian:test
        expect "$form: rmi frees both layers" "$(json '.removed | length')" 2
done
no_run_snapshots "debian"
ok "ls" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
