#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl import reads an archive once (an index of its members, then each one a byte range):
# the bytes it reads from a docker save archive of 40 layers stay within twice the archive's
# size, plain or gzip-compressed (read from the start for every member it was 20 times that
# and more), counted by strace, not by time. A compressed archive or one from a pipe is copied
# to an unlinked file in $TMPDIR, which is empty afterwards and never filled up (a gzip bomb
# stops at 5% free); an archive of more members than an image has is refused before anything
# is made.
. "$(dirname "$0")/ctl-lib.sh"

command -v strace >/dev/null || harness_skip "strace is not installed"
harness_setup

n=40
a="$T/many"
mkdir -p "$a" "$T/tmp"
layers="" diffs=""
for i in $(seq 1 $n); do
        mkdir -p "$T/l/$i/d$i"
        head -c 65536 /dev/urandom >"$T/l/$i/d$i/f"
        tar -C "$T/l/$i" --numeric-owner -cf "$T/l$i.tar" .
        hex=$(sha256sum "$T/l$i.tar" | cut -d' ' -f1)
        mkdir -p "$a/$hex"
        mv "$T/l$i.tar" "$a/$hex/layer.tar"
        echo 1.0 >"$a/$hex/VERSION"
        echo '{}' >"$a/$hex/json"
        layers="$layers${layers:+,}\"$hex/layer.tar\"" diffs="$diffs${diffs:+,}\"sha256:$hex\""
done
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >"$a/config"
config=$(sha256sum "$a/config" | cut -d' ' -f1).json
mv "$a/config" "$a/$config"
printf '[{"Config":"%s","RepoTags":["many:1"],"Layers":[%s]}]' "$config" "$layers" >"$a/manifest.json"
# As docker save writes it: the layers first, manifest.json last.
(cd "$a" && tar -cf "$T/many.tar" $(ls -1 | grep -v '^manifest.json$') manifest.json)
gzip -1 -c "$T/many.tar" >"$T/many.tar.gz"
size=$(stat -c %s "$T/many.tar")

# import_counted WHAT ARCHIVE NAME: imports ARCHIVE as NAME (all n layers new) under strace;
# the bytes its pread64 and read calls returned are at most twice the uncompressed archive
# (plus 1 MiB for libraries and the bus).
import_counted() {
        # LeakSanitizer (a sanitizer build) cannot run under ptrace.
        out=$(TMPDIR="$T/tmp" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                strace -f -qq -e trace=pread64,read -e status=successful -o "$T/strace" \
                "$LAMINACTL" --no-pager --json=short import "$2" --name "$3" 2>"$T/ctl.err")
        rc=$?
        err=$(cat "$T/ctl.err")
        [ "$rc" = 0 ] || fail "$1: import exited $rc: $err"
        expect "$1: every layer imported" "$(json '[.layers, .imported]')" "[$n,$n]"
        bytes=$(awk '$NF ~ /^[0-9]+$/ { s += $NF } END { print s + 0 }' "$T/strace")
        if [ "$bytes" -le $((2 * size + 1048576)) ]; then
                pass "$1: read $bytes bytes of a $size-byte archive"
        else
                fail "$1: read $bytes bytes of a $size-byte archive (more than twice)"
        fi
        expect "$1: no temporary file left" "$(ls -A "$T/tmp")" ""
        ok "$1: rmi" rmi "$3"
        ok "$1: ls" --json=short ls
        expect "$1: its layers went with it" "$out" "[]"
}

import_counted "plain archive" "$T/many.tar" plain
import_counted "gzip archive" "$T/many.tar.gz" gzipped

# From a pipe: read once, as it comes.
TMPDIR="$T/tmp" ok "gzip archive from a pipe" --json=short import - --name piped < <(cat "$T/many.tar.gz")
expect "pipe: every layer imported" "$(json '[.name, .layers, .imported]')" "[\"piped\",$n,$n]"
expect "pipe: no temporary file left" "$(ls -A "$T/tmp")" ""
ok "pipe: rmi" rmi piped

# TMPDIR where no file can be made: the import says so and makes nothing.
TMPDIR="$T/none" fails "a compressed archive without a temporary directory" 1 \
        'cannot make a temporary file in .*none.*set TMPDIR' import "$T/many.tar.gz"

# A bomb (a few KiB of gzip that expand to 96 MiB) against a 32 MiB TMPDIR: the copy stops
# before it leaves less than 5% of the file system free, not when the file system is full.
mkdir -p "$T/small"
mount -t tmpfs -o size=32m tmpfs "$T/small" || harness_die "cannot mount a tmpfs on $T/small"
python3 - "$T/bomb.tar.gz" <<'PY'
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def readable(self):
        return True
    def readinto(self, b):
        b[:] = bytes(len(b))
        return len(b)
info = tarfile.TarInfo('junk')
info.size = 96 << 20
with tarfile.open(sys.argv[1], 'w:gz', compresslevel=1) as t:
    t.addfile(info, io.BufferedReader(Zeros()))
PY
[ "$?" = 0 ] || harness_die "cannot make the bomb"
TMPDIR="$T/small" fails "a gzip bomb against a small TMPDIR" 1 \
        'temporary copy of .*bomb.tar.gz would leave less than 5% of .*small free; set TMPDIR' import "$T/bomb.tar.gz"
expect "the bomb's copy is gone" "$(ls -A "$T/small")" ""

# More members than an image has: refused after the index's bound, before any layer.
python3 - "$T/members.tar" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as t:
    for i in range(65537):
        t.addfile(tarfile.TarInfo(f'm{i}'))
PY
fails "an archive of 65537 members" 1 'members.tar has more than 65536 members' import "$T/members.tar"
ok "ls after the refusals" --json=short ls
expect "nothing made" "$out" "[]"
finish
