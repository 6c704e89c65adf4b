#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-docker-image.sh DIR BASE: builds the docker part of the real-image corpus into DIR (which
# must not exist) with real docker: a private dockerd owned by this script (its own data root,
# exec root, pid file, socket, config file and trust key under a temporary directory; no
# iptables, no bridge; overlay2 storage, so deleted directories made again become opaque
# directories) on a private containerd (its own root, state, socket and config, CRI off) loads
# BASE (a docker-archive: the Debian corpus; no network anywhere) and builds one Dockerfile twice,
# with the legacy builder (docker:legacy) and with BuildKit (docker:buildkit). Its RUN steps
# make the corner cases: files and directories deleted (whiteouts), a directory deleted and made
# again (opaque), a file replaced by a directory and a directory by a file or a symbolic link
# (its own and the base's), hard links (one to a file of the base), symbolic links, UTF-8 and
# spaces in names, setuid, a fifo, chown, a security.capability xattr (the only xattr docker's
# layers keep), a sparse 64 MiB file; ENV, WORKDIR, ENTRYPOINT and CMD. `docker save` writes
# DIR/docker-legacy.tar and DIR/docker-buildkit.tar as docker writes them (and both images in
# one archive, DIR/docker-both.tar, their shared layers once); DIR/oci is an OCI layout of both
# (skopeo, tags docker:legacy and docker:buildkit) for `umoci unpack`, and
# DIR/docker-BUILDER-export.tar.zst is `docker export` of a container created from each: the
# tree as docker itself sees it (with the few paths docker's init layer adds when the image
# lacks them: /.dockerenv, /etc/hosts, /dev/pts, …).
# Everything is stopped and removed on exit, failure included; only the daemons started here are
# ended. Two host paths are fixed in these versions: containerd's shims put their sockets in
# /run/containerd/s (removed when the build's containers end) and dockerd makes
# /run/docker/plugins; the directories this script's daemons made there are removed when empty.
# Exit 77 when dockerd cannot run here.
set -euo pipefail
out=${1:?usage: make-docker-image.sh DIR BASE}
base=${2:?usage: make-docker-image.sh DIR BASE}
work=$(mktemp -d /var/tmp/lamina-docker.XXXXXX)
# The CLI of the docker.io package (whatever else is first in PATH), always on this daemon.
D=(/usr/bin/docker -H "unix://$work/docker.sock")
export DOCKER_CONFIG="$work/cli"
containerd_pid="" dockerd_pid=""
made_here=()
for d in /run/docker /run/docker/plugins /run/containerd /run/containerd/s; do
        [ -e "$d" ] || made_here=("$d" "${made_here[@]}")
done

# stop PID: SIGTERM, then SIGKILL after 30 s; waits for it (a child of this shell).
stop() {
        local i
        kill "$1" 2>/dev/null || return 0
        for ((i = 0; i < 300; i++)); do
                kill -0 "$1" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

cleanup() {
        local rc=$?
        set +e
        if [ -n "$dockerd_pid" ]; then
                "${D[@]}" rm -f $("${D[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1
                stop "$dockerd_pid"
        fi
        [ -z "$containerd_pid" ] || stop "$containerd_pid"
        [ "$rc" = 0 ] || { echo "make-docker-image: failed; dockerd's log:" >&2; tail -n 30 "$work/dockerd.log" >&2; }
        # dockerd leaves its overlay2 mounts and the exec root's mounts when killed.
        findmnt -rn -o TARGET | grep "^$work/" | sort -r | while read -r m; do umount -l "$m"; done
        rm -rf --one-file-system "$work"
        for d in "${made_here[@]}"; do
                rmdir "$d" 2>/dev/null
        done
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP   # a test's timeout: clean up all the same

# wait_for_socket PATH PID NAME: until PATH is a socket, or PID died, or 60 s passed.
wait_for_socket() {
        local i
        for ((i = 0; i < 600; i++)); do
                [ -S "$1" ] && return 0
                kill -0 "$2" 2>/dev/null || { echo "make-docker-image: $3 exited" >&2; return 1; }
                sleep 0.1
        done
        echo "make-docker-image: $3 did not listen on $1 in 60 s" >&2
        return 1
}

mkdir "$work/containerd" "$work/cli"
cat >"$work/containerd/config.toml" <<EOC
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd/containerd.sock"
[ttrpc]
  address = "$work/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
EOC
containerd --config "$work/containerd/config.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
wait_for_socket "$work/containerd/containerd.sock" "$containerd_pid" containerd

# The trust key would be /etc/docker/key.json, and only the config file can move it.
echo "{\"deprecated-key-path\": \"$work/key.json\"}" >"$work/daemon.json"
dockerd --config-file "$work/daemon.json" --data-root "$work/data" --exec-root "$work/exec" \
        --pidfile "$work/dockerd.pid" -H "unix://$work/docker.sock" --containerd "$work/containerd/containerd.sock" \
        --storage-driver overlay2 --iptables=false --ip6tables=false \
        --ip-masq=false --bridge=none >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
if ! wait_for_socket "$work/docker.sock" "$dockerd_pid" dockerd; then
        tail -n 30 "$work/dockerd.log" >&2
        exit 77
fi
for ((i = 0; i < 600; i++)); do
        "${D[@]}" version >/dev/null 2>&1 && break
        sleep 0.1
done
"${D[@]}" load -q -i "$base" >/dev/null

ctx="$work/ctx"
mkdir -p "$ctx/ünïcödé dir"
echo "Főtanúsítvány" >"$ctx/ünïcödé dir/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt"
echo "copied" >"$ctx/copied file"
cat >"$ctx/Dockerfile" <<'EOD'
FROM debian:test
ENV BUILT_BY=docker
RUN set -e; cd /srv; mkdir -p docker/old docker/opaque/sub docker/becomes-file; cd docker; \
    echo old >old/file; echo kept >opaque/sub/kept; echo a >opaque/a; \
    echo file >becomes-dir; echo x >becomes-file/x; echo gone >gone; echo linked >hard
COPY ["ünïcödé dir", "/srv/docker/ünïcödé dir/"]
COPY ["copied file", "/srv/docker/"]
RUN set -e; cd /srv/docker; \
    rm -rf old gone /usr/share/doc/dpkg /etc/issue.net; \
    rm /etc/motd && mkdir /etc/motd && echo dir >/etc/motd/in; \
    rm -rf /usr/share/doc/sed && ln -s dpkg /usr/share/doc/sed; \
    rm -rf opaque && mkdir -p opaque/new && echo new >opaque/new/file; \
    rm becomes-dir && mkdir becomes-dir && echo in >becomes-dir/in; \
    rm -rf becomes-file && echo "now a file" >becomes-file; \
    ln hard hard-2 && ln hard "ünïcödé dir/hard 3"; ln /etc/debian_version base-link; \
    ln -s "ünïcödé dir" symlink; ln -s /nonexistent/target dangling; \
    mkfifo fifo; chown 1234:5678 hard; cp /bin/true setuid && chmod 4755 setuid; \
    cp /bin/true capable; \
    case $(uname -m) in x86_64) nr=188 ;; aarch64) nr=5 ;; *) echo "setxattr: unknown arch" >&2; exit 1 ;; esac; \
    perl -e '($f, $n, $v) = ("capable", "security.capability", pack("H*", $ARGV[1])); \
             syscall($ARGV[0], $f, $n, $v, length($v), 0) == 0 or die "setxattr: $!\n"' \
         "$nr" 0100000200040000000000000000000000000000; \
    truncate -s 64M sparse && echo end >>sparse
WORKDIR /srv/docker
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo \"BUILT_BY=$BUILT_BY in $(pwd)\"; grep ^PRETTY_NAME= /etc/os-release"]
EOD
DOCKER_BUILDKIT=0 "${D[@]}" build -q --network none -t docker:legacy "$ctx" >/dev/null
DOCKER_BUILDKIT=1 "${D[@]}" build -q --network none -t docker:buildkit "$ctx" >/dev/null
mkdir "$work/out"
for b in legacy buildkit; do
        "${D[@]}" save -o "$work/out/docker-$b.tar" "docker:$b"
        skopeo copy --quiet "docker-archive:$work/out/docker-$b.tar" "oci:$work/out/oci:docker:$b"
        cid=$("${D[@]}" create "docker:$b")
        "${D[@]}" export "$cid" | zstd -q -1 >"$work/out/docker-$b-export.tar.zst"
        "${D[@]}" rm "$cid" >/dev/null
done
"${D[@]}" save -o "$work/out/docker-both.tar" docker:legacy docker:buildkit
mkdir -p "$(dirname "$out")"
mv -T "$work/out" "$out"
