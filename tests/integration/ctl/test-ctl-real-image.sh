#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An image made by real tools, end to end: umoci builds a two-layer image from a static
# busybox root file system (the second layer adds, replaces and deletes files, with a UTF-8
# name with spaces, a hard link and a symlink) and sets its config (Entrypoint, Cmd, Env,
# WorkingDir); skopeo exports it as oci-archive and docker-archive. Each form is imported
# with laminactl, compared with `umoci unpack` of the same image (tree-compare.py), and run:
# the container prints /etc/os-release and honours Env, WorkingDir and Cmd. On SNAPSHOTTER ($1,
# default overlayfs).
. "$(dirname "$0")/ctl-lib.sh"
export LAMINA_SNAPSHOTTER=${1:-overlayfs}
need_busybox_nspawn
command -v umoci >/dev/null || harness_skip "umoci is not installed (tools/install-deps.sh installs it)"
command -v skopeo >/dev/null || harness_skip "skopeo is not installed (tools/install-deps.sh installs it)"
harness_setup
nspawn_setup

compare="$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py"
img="$T/img"
R="$T/bundle/rootfs"
umoci init --layout "$img" && umoci new --image "$img:t" && umoci unpack --image "$img:t" "$T/bundle" >/dev/null ||
        harness_die "umoci cannot make the base image"
make_busybox_rootfs "$R"
mkdir -p "$R/srv/app" "$R/srv/old"
echo old >"$R/srv/old/file"
echo v1 >"$R/srv/app/version"
umoci repack --refresh-bundle --image "$img:t" "$T/bundle" >/dev/null || harness_die "umoci repack 1 failed"
echo v2 >"$R/srv/app/version"
rm -rf "$R/srv/old"
echo "ő ű" >"$R/srv/app/Főtanúsítvány with space.txt"
ln "$R/srv/app/version" "$R/srv/app/version-link"
ln -s version "$R/srv/app/current"
umoci repack --refresh-bundle --image "$img:t" "$T/bundle" >/dev/null || harness_die "umoci repack 2 failed"
umoci config --image "$img:t" --tag real:1 --config.entrypoint /bin/sh --config.entrypoint -c \
        --config.cmd 'echo "FOO=$FOO in $(pwd)"; cat /etc/os-release' \
        --config.env FOO=from-config --config.env PATH=/bin --config.workingdir /srv/app ||
        harness_die "umoci config failed"
umoci unpack --image "$img:real:1" "$T/unpacked" >/dev/null || harness_die "umoci unpack failed"

skopeo copy --quiet "oci:$img:real:1" "oci-archive:$T/real-oci.tar:real:1" || harness_die "skopeo oci-archive failed"
skopeo copy --quiet "oci:$img:real:1" "docker-archive:$T/real-docker.tar:real:1" ||
        harness_die "skopeo docker-archive failed"

for form in layout oci-archive docker-archive; do
        case $form in
        layout) source=$img ;;
        oci-archive) source=$T/real-oci.tar ;;
        docker-archive) source=$T/real-docker.tar ;;
        esac
        if [ "$form" = layout ]; then
                # The layout holds two tags (t and real:1): --name chooses one, then tag names it.
                ok "$form: import" -q import "$source" --name real:1
                ok "$form: tag" tag real:1 "real:$form"
        else
                ok "$form: import" -q import "$source" --name "real:$form"
        fi
        ok "$form: view" view --mount "check-$form" "real:$form"
        if [ "$rc" = 0 ]; then
                if python3 "$compare" "$T/unpacked/rootfs" "$out" >"$T/diff"; then
                        pass "$form: the imported tree equals umoci unpack"
                else
                        fail "$form: differs from umoci unpack: $(cat "$T/diff")"
                fi
                ok "$form: umount" umount "check-$form"
                ok "$form: rm view" rm "check-$form"
        fi
        ok "$form: run" run "real:$form" --rm -q
        expect "$form: run honours Env, WorkingDir, Entrypoint and Cmd and prints os-release" "$out" \
                "FOO=from-config in /srv/app
ID=lamina-test
NAME=\"lamina test\""
done
no_run_snapshots "real images"
ok "images" --json=short images
expect "one image per form, all on the same top" "$(json 'map(.snapshot) | unique | length')" 1
ok "rmi" rmi real:1 real:layout real:oci-archive real:docker-archive
ok "ls" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
