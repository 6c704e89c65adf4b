#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import with layers applied at once (rebase: PrepareWithOptions without a parent, Apply,
# CommitWithOptions onto the parent in chain order) gives the tree that one layer after
# the other gives: a four-layer image whose upper layers lack parent directories that lower
# layers made with their own owner, mode, xattrs and times, white out paths no layer below
# has, and make opaque a directory that nothing below has. Imported with
# LAMINA_IMPORT_JOBS=1 and =3, both views compared with tree-compare.py, and with the layers
# extracted one after the other by hand. On SNAPSHOTTER ($1): overlayfs rebases every
# layer, native and btrfs none (NotSupported: they keep the sequential import).
. "$(dirname "$0")/ctl-lib.sh"
export LAMINA_SNAPSHOTTER=${1:-overlayfs}
harness_setup

compare="$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py"
python3 - "$T" <<'EOF' || harness_die "cannot make the layers"
import io, sys, tarfile
t = sys.argv[1]

def member(tf, name, kind="file", data=b"", mode=None, uid=0, gid=0, mtime=1600000000, xattrs=None):
    ti = tarfile.TarInfo(name)
    ti.uid, ti.gid, ti.mtime = uid, gid, mtime
    if xattrs:
        ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
    if kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755 if mode is None else mode
        tf.addfile(ti)
    else:
        ti.mode, ti.size = 0o644 if mode is None else mode, len(data)
        tf.addfile(ti, io.BytesIO(data))

def layer(n, members):
    with tarfile.open(f"{t}/l{n}.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            member(tf, *m[:2], **m[2] if len(m) > 2 else {})

layer(1, [("srv", "dir", {"mode": 0o750, "uid": 12, "gid": 34, "mtime": 1500000001}),
          ("srv/a", "file", {"data": b"a1\n"}),
          ("deep", "dir", {"mode": 0o711, "uid": 5, "mtime": 1500000002, "xattrs": {"user.layer": "one"}}),
          ("deep/er", "dir", {"mode": 0o700, "uid": 6, "mtime": 1500000003}),
          ("deep/er/f", "file", {"data": b"f1\n"}),
          ("old", "dir", {"mtime": 1500000004}),
          ("old/x", "file", {"data": b"x1\n"})])
# no "srv" nor "deep/er" entries: their attributes come from layer 1
layer(2, [("srv/b", "file", {"data": b"b2\n"}),
          ("deep/er/g", "file", {"data": b"g2\n", "uid": 7}),
          ("srv/.wh.never-there", "file"),
          ("old/.wh.x", "file")])
# an opaque directory nothing below has, and one over layer 1's
layer(3, [("fresh", "dir", {"mode": 0o700, "mtime": 1500000005}),
          ("fresh/.wh..wh..opq", "file"),
          ("fresh/y", "file", {"data": b"y3\n"}),
          ("old", "dir", {"mtime": 1500000006}),
          ("old/.wh..wh..opq", "file"),
          ("old/z", "file", {"data": b"z3\n"})])
layer(4, [("srv/c", "file", {"data": b"c4\n", "mode": 0o600}),
          ("deep/er/.wh.f", "file"),
          ("top", "file", {"data": b"top4\n"})])
EOF
make_oci_layout "$T/img" "" "" "$T/l1.tar" "$T/l2.tar" "$T/l3.tar" "$T/l4.tar"
rebased=0
[ "$LAMINA_SNAPSHOTTER" = overlayfs ] && rebased=4

import_view() { # JOBS NAME: imports with JOBS layers at once, mounts a view of it
        out=$(LAMINA_IMPORT_JOBS=$1 "$LAMINACTL" --no-pager --json=short import "$T/img" --name "$2" 2>"$T/ctl.err")
        rc=$?
        if [ "$rc" != 0 ]; then
                fail "import with $1 job(s): exited $rc: $(cat "$T/ctl.err")"
                return
        fi
        expect "import with $1 job(s): four new layers" "$(json '[.layers, .imported]')" "[4,4]"
        expect "import with $1 job(s): layers committed onto their parent at Commit" "$(json '.rebased')" \
                "$([ "$1" = 1 ] && echo 0 || echo $rebased)"
        ok "view of $2" view --mount "view-$2" "$2"
}

import_view 1 seq
[ "$rc" = 0 ] || harness_die "the sequential import failed"
cp -a "$out" "$T/seq-tree" || harness_die "cannot copy the sequential tree"
ok "ls of the sequential import" --json=short ls 'kind==committed'
seq_chain=$(json 'map([.name, .parent]) | sort')
ok "umount the sequential view" umount view-seq
ok "rm the sequential view" rm view-seq
ok "rmi seq (its layers go)" rmi seq
ok "ls after rmi" --json=short ls
expect "nothing left before the parallel import" "$(json 'length')" 0

import_view 3 par
[ "$rc" = 0 ] || harness_die "the parallel import failed"
if python3 "$compare" "$T/seq-tree" "$out" >"$T/diff"; then
        pass "the tree equals the sequential import's"
else
        fail "the tree differs from the sequential import's: $(cat "$T/diff")"
fi
# (deep/er's mtime is the deletion's on native and btrfs, where whiteouts delete)
expect "srv, deep and deep/er keep layer 1's owner and mode, srv and deep its times" \
        "$(stat -c '%n %u:%g %a %Y' "$out/srv" "$out/deep" | sed "s|$out/||"; stat -c '%n %u:%g %a' "$out/deep/er" | sed "s|$out/||")" \
        "srv 12:34 750 1500000001
deep 5:0 711 1500000002
deep/er 6:0 700"
expect "deep keeps layer 1's xattr" \
        "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.layer").decode())' "$out/deep" 2>&1)" one
expect "whiteouts and opaque directories took effect" \
        "$(cd "$out" && find . -mindepth 1 | sort | tr '\n' ' ')" \
        "./deep ./deep/er ./deep/er/g ./fresh ./fresh/y ./old ./old/z ./srv ./srv/a ./srv/b ./srv/c ./top "
ok "ls of the parallel import" --json=short ls 'kind==committed'
expect "the same chain of committed layers, each on its parent" "$(json 'map([.name, .parent]) | sort')" \
        "$seq_chain"
ok "umount the parallel view" umount view-par
ok "rm the parallel view" rm view-par
ok "rmi par" rmi par
ok "ls at the end" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
