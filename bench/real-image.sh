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
        local rep s image pid c0 f self=$BASHPID
        if [ "$mode" = quick ]; then
                for rep in $(seq "$REPS"); do
                        for f in lamina containerd podman; do
                                record "real_image_$f" skipped
                                record "real_image_${f}_cpu" skipped
                        done
                done
                return 0
        fi
        command -v podman >/dev/null || harness_die "podman is not installed (tools/install-deps.sh)"
        image=$(real_image_corpus)
        log "real image: $image ($(du -m "$image" | cut -f1) MiB)"
        for rep in $(seq "$REPS"); do
                pid=$(laminad_pid)
                settle
                c0=$(cpu_pair "$self" "$pid")
                s=$(now_us)
                "${CTL[@]}" import --name debian:bench "$image" >/dev/null
                record real_image_lamina "$(ms_per $(($(now_us) - s)) 1000)"
                record real_image_lamina_cpu "$(cpu_since "$self" "$c0" "$pid")"
                "${CTL[@]}" rmi debian:bench >/dev/null
                reclaim
                pid=$(containerd_pid)
                settle
                c0=$(cpu_pair "$self" "$pid")
                s=$(now_us)
                ctr_ns real images import "$image" >/dev/null
                record real_image_containerd "$(ms_per $(($(now_us) - s)) 1000)"
                record real_image_containerd_cpu "$(cpu_since "$self" "$c0" "$pid")"
                [ "$(ctr_ns real snapshots ls | grep -c Committed)" -ge 2 ] ||
                        harness_die "ctr images import did not unpack the image's 2 layers"
                ctr_ns real images rm --sync docker.io/library/debian:test >/dev/null
                settle
                c0=$(cpu_pair "$self")
                s=$(now_us)
                podman_ load -q -i "$image" >/dev/null
                record real_image_podman "$(ms_per $(($(now_us) - s)) 1000)"
                record real_image_podman_cpu "$(cpu_since "$self" "$c0")"
                podman_ rmi -af >/dev/null
        done
}
