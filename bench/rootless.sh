# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/run's rootless section (sourced): from request to a running rootless shell, as an
# unprivileged user with subordinate id ranges (a harness user, removed at the end; real
# polkitd with the guide's group rule, the files restored at the end), on a one-binary busybox
# image: `laminactl run --rootless --rm IMAGE -- /bin/sh -c 'echo ready'` against
# `podman run --rm --network=none` (runc; runc cannot --cgroups=disabled) of the same root file system (`podman
# import` of the same tar; overlay storage under the run's temp dir, cgroupfs, events in a
# file). Two figures per run: until the shell inside has printed its line, and until the
# command has ended and removed its container (lamina: the snapshot). One untimed run of each
# first (podman sets up its storage on the first one).

# first_line_ms CMD...: "MS_TO_FIRST_LINE MS_TOTAL" of CMD, which must print "ready" first
# and exit 0.
first_line_ms() {
        python3 - "$@" <<'PY'
import subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
line = p.stdout.readline()
t1 = time.monotonic()
rest, err = p.communicate()
t2 = time.monotonic()
if p.returncode != 0 or line.strip() != b"ready":
    sys.stderr.write("%s: exit %d: %s%s\n" % (sys.argv[1:], p.returncode, line.decode(), err.decode()))
    sys.exit(1)
print("%.3f %.3f" % ((t1 - t0) * 1000, (t2 - t0) * 1000))
PY
}

sec_rootless() {
        local user uid start ids home rep t busybox lamina podman podman_ok
        rootless_pause=
        command -v podman >/dev/null || harness_die "podman is not installed (tools/install-deps.sh)"
        command -v newuidmap >/dev/null || harness_die "newuidmap is not installed (uidmap)"
        busybox=$(command -v busybox) || harness_die "busybox is not installed (busybox-static)"
        user=$(harness_add_user bench-rootless)
        uid=$(id -u "$user")
        start=$((1000000000 + uid * 65536))
        usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
        harness_install_policy
        harness_install_group_rule "$user"
        harness_start_polkitd

        home=$T/rootless
        install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home" "$home/run"
        # podman's pause process keeps its user namespace (and the user, whom the harness then
        # cannot remove): ours to end, also when the section fails (it runs in a subshell).
        rootless_pause=$home/run/libpod/tmp/pause.pid
        trap '[ -f "$rootless_pause" ] && kill "$(cat "$rootless_pause")" 2>/dev/null' EXIT
        mkdir -p "$T/rootless-rootfs/bin"
        cp "$busybox" "$T/rootless-rootfs/bin/busybox"
        ln -s busybox "$T/rootless-rootfs/bin/sh"
        tar -C "$T/rootless-rootfs" --numeric-owner -cf "$T/rootless.tar" .
        chmod a+r "$T/rootless.tar"
        ids=(setpriv "--reuid=$uid" "--regid=$(id -g "$user")" --clear-groups --
             env "HOME=$home" "XDG_RUNTIME_DIR=$home/run")
        lamina=("${ids[@]}" "${CTL[@]}" run --rootless bb --rm -- /bin/sh -c 'echo ready')
        podman=("${ids[@]}" podman --root "$home/storage" --runroot "$home/run/storage" --storage-driver overlay
                --cgroup-manager=cgroupfs --events-backend=file)

        # Polkit's rules take a moment to be read.
        harness_wait_for 50 "${ids[@]}" "${CTL[@]}" import-tar "$T/rootless.tar" --name bb
        first_line_ms "${lamina[@]}" >/dev/null
        # Where rootless podman cannot run (no kernel or storage support), its cells say so.
        if "${podman[@]}" import -q "$T/rootless.tar" localhost/bb >/dev/null &&
                first_line_ms "${podman[@]}" "${podman_run[@]}" >/dev/null; then
                podman_ok=1
        else
                log "rootless: podman run --rm cannot run rootless here (see above)"
                podman_ok=0
        fi
        for rep in $(seq "$REPS"); do
                read -r -a t <<<"$(first_line_ms "${lamina[@]}")"
                record rootless_lamina "${t[0]}"
                record rootless_lamina_total "${t[1]}"
                if [ "$podman_ok" = 1 ]; then
                        read -r -a t <<<"$(first_line_ms "${podman[@]}" "${podman_run[@]}")"
                        record rootless_podman "${t[0]}"
                        record rootless_podman_total "${t[1]}"
                else
                        record rootless_podman unavailable
                        record rootless_podman_total unavailable
                fi
        done
        "${podman[@]}" rmi -af >/dev/null 2>&1 || true
}

podman_run=(run --rm --network=none localhost/bb /bin/sh -c 'echo ready')
