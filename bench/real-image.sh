# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/run's real-image section (sourced): import of the real Debian image of the test
# corpus (tests/integration/ctl/make-debian-image.sh: mmdebstrap minbase plus umoci's layer of
# corner cases, 2 layers, 8 733 entries; its skopeo docker-archive, uncompressed layers) by
# `laminactl import` against `ctr images import` (unpacked for the default platform) and
# `podman load` (overlay storage in the run's temp dir) of the same file. The corpus is the
# one the ctl-debian tests build and cache; --quick does not measure it.

real_image_corpus() {
        local dir
        for dir in "${LAMINA_TEST_IMAGE_CACHE:-/var/cache/lamina-test-images}"/debian-*; do
                [ -f "$dir/debian-docker.tar" ] && { echo "$dir/debian-docker.tar"; return 0; }
        done
        harness_die "no Debian image corpus; build it once with: meson test -C build ctl-debian-overlayfs"
}

podman_() {
        podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver overlay \
                --cgroup-manager=cgroupfs --events-backend=file "$@"
}

sec_real_image() {
        local rep s image
        if [ "$mode" = quick ]; then
                for rep in $(seq "$REPS"); do
                        record real_image_lamina skipped
                        record real_image_containerd skipped
                        record real_image_podman skipped
                done
                return 0
        fi
        command -v podman >/dev/null || harness_die "podman is not installed (tools/install-deps.sh)"
        image=$(real_image_corpus)
        log "real image: $image ($(du -m "$image" | cut -f1) MiB)"
        for rep in $(seq "$REPS"); do
                settle
                s=$(now_us)
                "${CTL[@]}" import --name debian:bench "$image" >/dev/null
                record real_image_lamina "$(ms_per $(($(now_us) - s)) 1000)"
                "${CTL[@]}" rmi debian:bench >/dev/null
                reclaim
                settle
                s=$(now_us)
                ctr_ns real images import "$image" >/dev/null
                record real_image_containerd "$(ms_per $(($(now_us) - s)) 1000)"
                [ "$(ctr_ns real snapshots ls | grep -c Committed)" -ge 2 ] ||
                        harness_die "ctr images import did not unpack the image's 2 layers"
                ctr_ns real images rm --sync docker.io/library/debian:test >/dev/null
                settle
                s=$(now_us)
                podman_ load -q -i "$image" >/dev/null
                record real_image_podman "$(ms_per $(($(now_us) - s)) 1000)"
                podman_ rmi -af >/dev/null
        done
}
