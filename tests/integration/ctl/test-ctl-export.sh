#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import-tar and export: a plain root file system tar (file or standard input, compressed or
# not) becomes a one-layer image; export writes a snapshot or an image back as a tar that
# unpacks to the same tree (types, modes, owners, sizes, contents, link targets, hard links,
# xattrs, a sparse file); no view or mount is left behind.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

src="$T/rootfs"
mkdir -p "$src/etc" "$src/usr/bin" "$src/srv/with space" "$src/empty" "$src/dev"
echo "NAME=exported" >"$src/etc/os-release"
printf 'binary\0data' >"$src/usr/bin/tool"
chmod 4755 "$src/usr/bin/tool"
ln "$src/usr/bin/tool" "$src/usr/bin/tool-link"
ln -s ../etc/os-release "$src/usr/os-release"
echo "ő ű" >"$src/srv/with space/Főtanúsítvány.txt"
chown 1234:5678 "$src/srv/with space/Főtanúsítvány.txt"
mkfifo "$src/dev/fifo"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.lamina", b"test")' "$src/etc/os-release"
truncate -s 64M "$src/srv/sparse"
echo end >>"$src/srv/sparse"
tar -C "$src" --numeric-owner --xattrs --xattrs-include='*' --sparse -czf "$T/rootfs.tar.gz" .

# tree_listing DIR: one line per entry: path, type, mode, owner, size, link target, content
# hash, xattrs; hard links as the set of names sharing an inode.
tree_listing() {
        (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\n' | sort)
        (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
        python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        for a in sorted(os.listxattr(p, follow_symlinks=False)):
            print(os.path.relpath(p, root), a, os.getxattr(p, a, follow_symlinks=False))
PY
        (cd "$1" && find . -type f -links +1 -printf '%i %p\n' | sort | awk '{ print $2 }')
}

ok "import-tar a gzip'ed root file system" --json=short import-tar "$T/rootfs.tar.gz" --name rootfs:1
top=$(json '.snapshot')
expect "one new layer" "$(json '.imported')" 1
expect "the layer is named by its diff ID" "$top" "sha256:$(gzip -dc "$T/rootfs.tar.gz" | sha256sum | cut -d' ' -f1)"
ok "images" --json=short images
expect "the image" "$(json 'map([.name, .snapshot])')" "[[\"rootfs:1\",\"$top\"]]"
got=$(busctl --system --json=short call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
        org.lamina.snapshot1.Images GetImage s rootfs:1 | jq -c '.data[1] | fromjson | [.os, .rootfs.diff_ids]')
expect "its config names the layer" "$got" "[\"linux\",[\"$top\"]]"

ok "import-tar the same from standard input" --json=short import-tar - --name rootfs:stdin <"$T/rootfs.tar.gz"
expect "already present" "$(json '[.snapshot, .imported]')" "[\"$top\",0]"
fails "import-tar from standard input needs a name" 1 'give the image.s name with --name' import-tar - <"$T/rootfs.tar.gz"

ctl export rootfs:1 "$T/export.tar"
expect "export of an image" "$rc" 0
mkdir "$T/unpacked"
tar -C "$T/unpacked" --numeric-owner --xattrs --xattrs-include='*' -xpf "$T/export.tar"
tree_listing "$src" >"$T/want"
tree_listing "$T/unpacked" >"$T/got"
if diff -u "$T/want" "$T/got" >&2; then pass "export unpacks to the imported tree"; else fail "export differs (above)"; fi
[ "$(du -k "$T/unpacked/srv/sparse" | cut -f1)" -lt 1024 ] || fail "the sparse file came back dense"

# An active snapshot exports as it is; standard output works.
ok "prepare on the image" prepare work rootfs:1
ok "mount work" mount work
echo added >"$out/added"
ok "umount work" umount work
"$LAMINACTL" export work >"$T/work.tar" 2>"$T/err" || fail "export to standard output: $(cat "$T/err")"
tar -tf "$T/work.tar" | grep -qx './added' || fail "the active snapshot's new file is in its export"

# --diff: a committed snapshot's changes against its parent, as an OCI layer that, applied on
# the parent, gives the same tree.
ok "mount work again" mount work
w=$out
echo changed >"$w/etc/os-release"
rm "$w/usr/os-release"
rm -r "$w/srv/with space"
chmod 0700 "$w/empty"
mkdir -p "$w/new/dir"
echo new >"$w/new/dir/file"
ok "umount work again" umount work
ok "commit work" commit changed work
ctl export --diff changed "$T/diff.tar"
expect "export --diff" "$rc" 0
tar -tf "$T/diff.tar" | sort >"$T/diff.list"
expect "the layer holds the changes and whiteouts, nothing unchanged" "$(tr '\n' ' ' <"$T/diff.list")" \
        "./added ./empty/ ./etc/os-release ./new/ ./new/dir/ ./new/dir/file ./srv/.wh.with space ./usr/.wh.os-release "
ok "prepare on the parent" prepare again rootfs:1
ok "apply the diff" apply again "$T/diff.tar"
ok "commit it" commit again-done again
ok "view of the original" view --mount v1 changed
v1=$out
ok "view of the rebuilt" view --mount v2 again-done
if python3 "$LAMINA_SOURCE_DIR/tests/integration/apply/tree-compare.py" "$v1" "$out" >"$T/cmp"; then
        pass "the diff applied on the parent gives the same tree"
else
        fail "the diff applied on the parent differs: $(cat "$T/cmp")"
fi
ok "umount v1" umount v1
ok "umount v2" umount v2
ok "rm the checks" rm v1 v2 again-done changed
ok "an active snapshot" prepare act rootfs:1
fails "--diff of an active snapshot" 1 '--diff takes a committed snapshot' export --diff act "$T/x.tar"
ok "rm act" rm act
fails "--diff only for export" 2 'ls does not take --diff' ls --diff

ok "ls" --json=short ls
expect "no view left" "$(json 'map(.name) | sort')" "[\"$top\"]"
ok "list-mounts" list-mounts
expect "nothing mounted" "$out" "No mounts."
fails "export of nothing" 1 'no image or committed snapshot "nope"' export nope "$T/nope.tar"
[ ! -e "$T/nope.tar" ] || fail "a failed export leaves no file"
ok "rmi" rmi rootfs:1 rootfs:stdin
ok "ls at the end" --json=short ls
expect "nothing left" "$(json 'length')" 0
finish
