#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs every package lamina needs to build, test and benchmark on Debian 12.
# Idempotent: installs only what is missing; runs `apt-get update` only then.
set -euo pipefail

packages=(
        # build
        build-essential meson ninja-build pkg-config
        libsystemd-dev liblmdb-dev libmount-dev libseccomp-dev libarchive-dev libssl-dev
        libgcrypt20-dev # store: SHA-256 of long snapshot names (libsystemd already maps libgcrypt)
        libdbus-1-dev   # dbus-1.pc: where the bus reads policy and activation files
        libisal-dev     # layers: gzip inflated with ISA-L's igzip (3x zlib), which checks CRC32 and length
        zlib1g-dev      # the layer tests make gzip members with zlib
        libjson-c-dev groff-base
        # tests: a real bus, real polkit, real systemd in a container, btrfs, layers
        dbus dbus-bin polkitd pkexec systemd systemd-container util-linux
        btrfs-progs xfsprogs zstd gzip tar python3 libxml2-utils lmdb-utils man-db bash-completion
        jq busybox-static umoci
        python3-dbus python3-gi  # the objects-images-mounts test (python3-dbus); hostile, ctl-import-vanish (GDBus)
        skopeo          # the real-image tests export as oci-archive and docker-archive
        mmdebstrap      # the Debian corpus of the real-image test (built once, cached)
        podman          # the podman part of the corpus: podman build and save (PAX headers, UTF-8)
        buildah         # the buildah part of the corpus: buildah from/commit/push
        docker.io       # the docker part of the corpus: a private dockerd builds and saves (see below)
        uidmap          # run --rootless: newuidmap/newgidmap write the user namespace's subordinate ids
        strace          # the mount and apply crash tests stop or kill laminad at a chosen syscall
        # the nspawn-deb test: builds the Debian package (debian/), lintian, logind sessions
        debhelper dpkg-dev lintian libglib2.0-bin  # (gdbus: also the mount tests)
        # sanitizer runtime
        clang libclang-rt-14-dev
        # bench peers
        containerd
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: all ${#packages[@]} packages present"
        exit 0
fi

# docker.io's postinst starts docker.service and docker.socket (containerd's, containerd). The
# tests start private daemons of their own (dbus, polkitd, containerd, and dockerd in
# tests/integration/ctl/make-docker-image.sh) and must not leave a system docker running, so
# apt runs under a policy-rc.d that denies every start (Debian's interface for invoke-rc.d and
# deb-systemd-invoke: exit 101); one already there is put back afterwards. The units stay
# enabled as the packages ship them: nothing starts before the next boot.
policy=/usr/sbin/policy-rc.d
if [ -e "$policy" ]; then
        mv "$policy" "$policy.lamina-saved"
        trap 'mv -f "$policy.lamina-saved" "$policy"' EXIT
else
        trap 'rm -f "$policy"' EXIT
fi
printf '#!/bin/sh\n# tools/install-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A mirror's passing failure (a reset, a 5xx, an index being replaced mid-update) is no
# reason to fail a fresh machine's run: each download is retried, then the whole step.
apt=(apt-get -o Acquire::Retries=5)
for try in 1 2 3; do
        "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && exit 0
        echo "install-deps: apt-get failed (try $try of 3)" >&2
        sleep $((try * 20))
done
exit 1
