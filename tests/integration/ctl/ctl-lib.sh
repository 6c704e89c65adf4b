# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the laminactl tests: the harness (private bus, laminad activated on it) plus
# helpers that run laminactl and check exit codes, error texts and JSON.

: "${LAMINA_SOURCE_DIR:?run through meson test}"
HARNESS_LIB="$LAMINA_SOURCE_DIR/tests/integration/lib"
. "$HARNESS_LIB/harness.sh"

command -v jq >/dev/null || harness_skip "jq is not installed (the tests parse laminactl's JSON with it)"
LAMINACTL="$LAMINA_BUILD_DIR/src/ctl/laminactl"
[ -x "$LAMINACTL" ] || harness_die "laminactl is not built in $LAMINA_BUILD_DIR"

ctl_failures=0

fail() {
        printf 'FAIL: %s\n' "$*" >&2
        ctl_failures=$((ctl_failures + 1))
}

pass() {
        printf 'ok - %s\n' "$*"
}

# ctl ARGS…: laminactl without a pager; output in $out, stderr in $err, exit code in $rc.
# CTL_AS, if set, prefixes the command (e.g. "harness_as USER").
CTL_AS=""
ctl() {
        out=$($CTL_AS "$LAMINACTL" --no-pager "$@" 2>"$T/ctl.err")
        rc=$?
        err=$(cat "$T/ctl.err")
}

# ctl_succeeds ARGS…: ctl ARGS… exited 0 (a condition for harness_wait_for).
ctl_succeeds() {
        ctl "$@"
        [ "$rc" = 0 ]
}

# ok DESCRIPTION ARGS…: laminactl must succeed.
ok() {
        _what=$1
        shift
        ctl "$@"
        if [ "$rc" = 0 ]; then
                pass "$_what"
        else
                fail "$_what: laminactl $* exited $rc: $err"
        fi
}

# fails DESCRIPTION CODE PATTERN ARGS…: laminactl must exit CODE with one stderr line
# starting "laminactl: " and matching the extended regex PATTERN.
fails() {
        _what=$1 _code=$2 _pattern=$3
        shift 3
        ctl "$@"
        if [ "$rc" != "$_code" ]; then
                fail "$_what: laminactl $* exited $rc, expected $_code (stderr: $err)"
        elif [ "$(printf '%s\n' "$err" | wc -l)" != 1 ]; then
                fail "$_what: expected one line on stderr, got: $err"
        elif ! printf '%s\n' "$err" | grep -Eq "^laminactl: .*$_pattern"; then
                fail "$_what: stderr \"$err\" does not match /$_pattern/"
        else
                pass "$_what ($err)"
        fi
}

# expect DESCRIPTION ACTUAL EXPECTED
expect() {
        if [ "$2" = "$3" ]; then
                pass "$1"
        else
                fail "$1: got \"$2\", expected \"$3\""
        fi
}

# json FILTER: runs the jq FILTER on $out; strings print raw, everything else as compact JSON
# with sorted keys. Invalid JSON prints nothing (and an error), so every check on it fails.
json() {
        printf '%s' "$out" | jq -cSr "$1"
}

# Ends the test: exit 1 if any check failed.
finish() {
        if [ "$ctl_failures" != 0 ]; then
                printf '%d check(s) failed\n' "$ctl_failures" >&2
                exit 1
        fi
        exit 0
}

# make_layer DIR TARBALL: a layer tar of DIR's contents (numeric owners, no ./ prefix).
make_layer() {
        tar -C "$1" --numeric-owner -cf "$2" .
}

# blob_put LAYOUT FILE: moves FILE into LAYOUT/blobs/sha256/, prints "DIGEST SIZE".
blob_put() {
        _hex=$(sha256sum "$2" | cut -d' ' -f1)
        _size=$(stat -c %s "$2")
        mkdir -p "$1/blobs/sha256"
        mv "$2" "$1/blobs/sha256/$_hex"
        echo "sha256:$_hex $_size"
}

# make_oci_layout LAYOUT REF CONFIG_DIFF_IDS TAR…: an OCI image layout whose layers are the
# tars, gzip-compressed. CONFIG_DIFF_IDS "" = the tars' real diff IDs; else used verbatim.
# $OCI_CONFIG, if set, is the config's "config" object (Entrypoint, Cmd, Env, …).
make_oci_layout() {
        _dir=$1 _ref=$2 _diffs=$3
        shift 3
        mkdir -p "$_dir"
        printf '{"imageLayoutVersion":"1.0.0"}\n' >"$_dir/oci-layout"
        _layers="" _real=""
        for _tar in "$@"; do
                _real="$_real${_real:+,}\"sha256:$(sha256sum "$_tar" | cut -d' ' -f1)\""
                gzip -c "$_tar" >"$_dir/tmp"
                read -r _d _s <<<"$(blob_put "$_dir" "$_dir/tmp")"
                _layers="$_layers${_layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$_d\",\"size\":$_s}"
        done
        printf '{"architecture":"amd64","os":"linux",%s"rootfs":{"type":"layers","diff_ids":[%s]}}' \
                "${OCI_CONFIG:+\"config\":$OCI_CONFIG,}" "${_diffs:-$_real}" >"$_dir/tmp"
        read -r _d _s <<<"$(blob_put "$_dir" "$_dir/tmp")"
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
                "$_d" "$_s" "$_layers" >"$_dir/tmp"
        read -r _d _s <<<"$(blob_put "$_dir" "$_dir/tmp")"
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}\n' \
                "$_d" "$_s" "$_ref" >"$_dir/index.json"
}

# chain_id PARENT_CHAIN DIFF_ID: the OCI chain ID of a layer on PARENT_CHAIN.
chain_id() {
        echo "sha256:$(printf '%s %s' "$1" "$2" | sha256sum | cut -d' ' -f1)"
}

# tar_digest FILE: "sha256:<hex>" of FILE.
tar_digest() {
        echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

# two_layer_image LAYOUT REF: the directories $T/l1 and $T/l2 as layer tars ($T/l1.tar,
# $T/l2.tar) and an OCI image layout of the two; their diff IDs in d1 and d2, their chain
# IDs in c1 and c2.
two_layer_image() {
        make_layer "$T/l1" "$T/l1.tar"
        make_layer "$T/l2" "$T/l2.tar"
        d1=$(tar_digest "$T/l1.tar")
        d2=$(tar_digest "$T/l2.tar")
        c1=$d1
        c2=$(chain_id "$c1" "$d2")
        make_oci_layout "$1" "$2" "" "$T/l1.tar" "$T/l2.tar"
}

# need_busybox_nspawn: skips unless systemd-nspawn and a static busybox (in $busybox) are
# here. Call before harness_setup.
need_busybox_nspawn() {
        command -v systemd-nspawn >/dev/null || harness_skip "systemd-nspawn is not installed (systemd-container)"
        busybox=$(command -v busybox) || harness_skip "busybox is not installed (busybox-static)"
        ! ldd "$busybox" >/dev/null 2>&1 || harness_skip "$busybox is not static (install busybox-static)"
}

# nspawn_setup: after harness_setup. nspawn leaves empty cgroups behind when run outside a
# systemd system, and wants /run/systemd/nspawn; the EXIT trap removes what it made (only that).
nspawn_setup() {
        cgroup_leftovers=""
        for _d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
                for _sub in payload/init.scope payload supervisor; do
                        [ -d "$_d" ] && [ ! -e "$_d/$_sub" ] && cgroup_leftovers="$cgroup_leftovers $_d/$_sub"
                done
        done
        nspawn_tmpfs=0
        if ! findmnt -rn --mountpoint /run/systemd/nspawn >/dev/null; then
                mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && nspawn_tmpfs=1
        fi
        trap 'nspawn_cleanup; harness_cleanup' EXIT
}

nspawn_cleanup() {
        _saved=$?
        for _d in $cgroup_leftovers; do
                rmdir "$_d" 2>/dev/null
        done
        if [ "$nspawn_tmpfs" = 1 ]; then
                umount /run/systemd/nspawn
                rm -rf /run/systemd/nspawn /run/systemd/nspawn-root
        fi
        return "$_saved"
}

# make_busybox_rootfs DIR: a one-binary rootfs: busybox as sh and as an init that says hello
# and powers off; nspawn wants /usr and os-release.
make_busybox_rootfs() {
        mkdir -p "$1/bin" "$1/sbin" "$1/usr/lib" "$1/etc" "$1/tmp"
        cp "$busybox" "$1/bin/busybox"
        ln -s busybox "$1/bin/sh"
        ln -s busybox "$1/bin/poweroff"
        ln -s ../bin/busybox "$1/sbin/init"
        cat >"$1/etc/inittab" <<'INITTAB'
::sysinit:/bin/sh -c 'echo booted by $(cat /proc/1/comm)'
::sysinit:/bin/poweroff -f
INITTAB
        printf 'ID=lamina-test\nNAME="lamina test"\n' >"$1/usr/lib/os-release"
        ln -s ../usr/lib/os-release "$1/etc/os-release"
}

# no_run_snapshots WHAT: no active snapshot or view is left, and nothing is mounted.
no_run_snapshots() {
        ctl --json=short ls
        expect "$1: no run snapshot left" "$(json 'map(select(.kind != "committed") | .name)')" "[]"
        ctl list-mounts
        expect "$1: nothing mounted" "$out" "No mounts."
        expect "$1: no mount left in the system's table" "$(findmnt -rn -o TARGET | grep -c "^$T/run/")" 0
}

# view_matches_unpack WHAT IMAGE [NAME DIR [OPTION...]]: a view of IMAGE, mounted, holds what
# `umoci unpack` made of the same image in $T/unpacked/rootfs and, when given, the tree NAME in
# DIR (tree-compare.py OPTIONs: what to leave out); zero differences. Then unmounted, removed.
view_matches_unpack() {
        local what=$1 view
        ok "$what: view" view --mount check "$2"
        [ "$rc" = 0 ] || return 0
        view=$out
        tree_matches "$what" "umoci unpack" "$T/unpacked/rootfs" "$view"
        [ $# -lt 4 ] || tree_matches "$what" "$3" "$4" "$view" "${@:5}"
        ok "$what: umount" umount check
        ok "$what: rm view" rm check
}

# tree_matches WHAT NAME REFERENCE TREE [tree-compare options]: TREE equals REFERENCE.
tree_matches() {
        if python3 "$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py" "${@:5}" "$3" "$4" >"$T/diff"; then
                pass "$1: the imported tree equals $2 ($(find "$4" | wc -l) entries)"
        else
                fail "$1: differs from $2: $(head -c 4000 "$T/diff")"
        fi
}

# completion_load FILE [real]: sources laminactl's bash completion FILE on top of
# bash-completion's own helpers when "real" is given and bash-completion is installed, else on
# two stubs (_filedir offers "FILES").
completion_load() {
        if [ "${2:-}" = real ] && [ -f /usr/share/bash-completion/bash_completion ]; then
                . /usr/share/bash-completion/bash_completion
        else
                _init_completion() {
                        words=("${COMP_WORDS[@]}")
                        cword=$COMP_CWORD
                        cur=${words[cword]}
                        prev=${words[cword - 1]}
                }
                _filedir() {
                        COMPREPLY=(FILES)
                }
        fi
        . "$1"
}

# complete_line WORD…: completes the last word of "laminactl WORD…"; prints the sorted
# candidates on one line.
complete_line() {
        COMP_WORDS=(laminactl "$@")
        COMP_CWORD=$#
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _laminactl
        printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# image_corpus NAME MAKER [ARG...]: sets corpus to the directory MAKER builds (MAKER DIR ARG...),
# cached in $LAMINA_TEST_IMAGE_CACHE (default /var/cache/lamina-test-images) as NAME-KEY, KEY a
# hash of MAKER, its arguments and stdin (the tools' versions); built once, older keys removed.
# Skips when MAKER exits 77.
image_corpus() {
        local name=$1 maker=$2 cache=${LAMINA_TEST_IMAGE_CACHE:-/var/cache/lamina-test-images} key old
        shift 2
        key=$( (cat "$maker"; [ $# = 0 ] || echo "$@"; cat) | sha256sum | cut -c1-16)
        corpus="$cache/$name-$key"
        [ -d "$corpus" ] && return 0
        echo "# building the $name corpus into $corpus (once per tool versions)" >&2
        rc=0
        "$maker" "$corpus" "$@" || rc=$?
        [ "$rc" = 77 ] && harness_skip "$(basename "$maker") cannot build the $name corpus here (see above)"
        [ "$rc" = 0 ] || { echo "$(basename "$maker") failed ($rc)" >&2; exit 1; }
        for old in "$cache/$name"-*; do
                [ "$old" = "$corpus" ] || rm -rf --one-file-system "$old"
        done
}
