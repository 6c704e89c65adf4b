#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the hostile-layer corpus for test-apply-hostile.

    make-corpus.py OUTDIR SENTINEL           the corpus, OUTDIR/corpus.list
    make-corpus.py --bomb OUTDIR ENTRIES     one gzip layer of ENTRIES whiteouts of one name
    make-corpus.py --opaques OUTDIR ENTRIES  a directory and ENTRIES opaque markers for it
    make-corpus.py --bombs OUTDIR            the resource bombs of test-apply-bombs (bombs.list)

SENTINEL is the absolute path of a tree outside the daemon's state directory that every
escape in the corpus aims at. OUTDIR also gets base.tar (the committed parent of every
snapshot under test) and prepop.tar (applied to each snapshot before the hostile layer):
both plant symlinks that point into SENTINEL, absolute and relative, so hostile entries
can try to write, link, whiteout or make opaque through them.

corpus.list has one line per archive, tab-separated:
    NAME  VERDICT  CHECKS  WHAT
VERDICT is "refuse:ERROR:TEXT" (Apply must fail with that D-Bus error, short name, and a
message containing TEXT), "contain" (must succeed) or "any" (either; containment is what
matters). CHECKS ("-" for none) are ";"-separated "PATH|KIND|ARG" tests of the snapshot's
data after a successful Apply: KIND file (ARG = content), dir, symlink (ARG = target),
chr, blk, fifo, absent, whiteout (overlay: 0/0 char device, else absent), opaque (a
directory; overlay: marked opaque), mode (ARG = octal permission bits), noxattr (ARG = name),
notsymlink.
"""

import gzip
import io
import os
import subprocess
import sys
import tarfile
import zlib

UP = "../" * 24  # from anywhere below /tmp up to "/"


class Corpus:
    def __init__(self, outdir, sentinel):
        self.outdir = outdir
        self.s = sentinel
        self.srel = sentinel.lstrip("/")
        self.lines = []

    # --- building blocks -------------------------------------------------------------

    @staticmethod
    def info(name, kind=tarfile.REGTYPE, mode=0o644, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid = ti.gid = 0
        ti.mtime = 1700000000
        ti.size = len(data) if kind == tarfile.REGTYPE else 0
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti, data

    def f(self, name, data=b"x\n", mode=0o644, **kw):
        return self.info(name, tarfile.REGTYPE, mode, data, **kw)

    def d(self, name, mode=0o755, **kw):
        return self.info(name, tarfile.DIRTYPE, mode, **kw)

    def sym(self, name, target, **kw):
        return self.info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw)

    def hard(self, name, target, **kw):
        return self.info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw)

    @staticmethod
    def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as t:
            for ti, data in entries:
                t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
        return buf.getvalue()

    def write(self, name, data):
        with open(os.path.join(self.outdir, name), "wb") as out:
            out.write(data)

    def add(self, name, verdict, checks, what, data):
        assert "\t" not in what and name not in [l[0] for l in self.lines]
        self.write(name, data)
        self.lines.append((name, verdict, ";".join(checks).replace("\n", "\\n") or "-", what))

    def tar(self, name, verdict, checks, what, entries, fmt=tarfile.PAX_FORMAT):
        self.add(name, verdict, checks, what, self.tar_bytes(entries, fmt))

    # --- the corpus ------------------------------------------------------------------

    def parents(self):
        s, up = self.s, UP + self.srel
        base = [
            self.d("etc"),
            self.f("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
            self.d("lowerdir"),
            self.f("lowerdir/keep", b"keep\n"),
            self.sym("lowerdir/link", s + "/dir"),
            self.sym("abs", s),
            self.sym("up", up),
        ]
        prepop = [
            self.d("mine"),
            self.f("mine/file", b"mine\n"),
            self.sym("mine/esc", s + "/dir"),
            self.sym("escape", s),
            self.sym("escrel", up),
            self.sym("escfile", s + "/file"),
            self.f("hl", b"hl\n"),
        ]
        self.write("base.tar", self.tar_bytes(base))
        self.write("prepop.tar", self.tar_bytes(prepop))

    def traversal(self):
        s, srel = self.s, self.srel
        ia = "refuse:InvalidArgument:"
        self.tar("dotdot", ia + "\"..\" component", [], "../ at the front",
                 [self.f("../pwned")])
        self.tar("dotdot-deep", ia + "\"..\" component", [], "../ up to / then into the sentinel",
                 [self.f(UP + srel + "/pwned")])
        self.tar("dotdot-middle", ia + "\"..\" component", [], "a/../../x",
                 [self.d("a"), self.f("a/../../pwned")])
        self.tar("dotdot-dir", ia + "\"..\" component", [], "a directory entry ../x/",
                 [self.d("../pwned-dir")])
        self.tar("absolute", "contain", [srel + "/pwned|file|abs\n"],
                 "an absolute path lands inside", [self.f(s + "/pwned", b"abs\n")])
        self.tar("absolute-etc", "contain", ["etc/passwd|file|evil\n"], "/etc/passwd is the snapshot's",
                 [self.f("/etc/passwd", b"evil\n")])
        self.tar("dot-slashes", "contain", ["a/b|file|x\n"], "./ and // are cleaned",
                 [self.f(".//a/./b")])

    def symlinks(self):
        s, srel = self.s, self.srel
        ia = "refuse:InvalidArgument:"
        sym_parent = ia + "a parent directory is a symlink"
        self.tar("symlink-then-file", "contain", ["s|file|over\n"],
                 "a file entry over a symlink to a sentinel file replaces the link",
                 [self.sym("s", s + "/file"), self.f("s", b"over\n")])
        self.tar("symlink-then-under", sym_parent, [], "a symlink to the sentinel dir, then a file under it",
                 [self.sym("s", s), self.f("s/pwned")])
        self.tar("symlink-rel-then-under", sym_parent, [], "a relative ../ symlink, then a file under it",
                 [self.sym("s", UP + srel), self.f("s/pwned")])
        # umoci's way of turning a directory into a symlink: whiteouts of the old entries
        # below the new symlink; redundant, ignored, never acted on through it
        self.tar("symlink-then-whiteout", "contain", ["s|symlink|" + s],
                 "a symlink to the sentinel dir, then whiteouts below it (file, dir)",
                 [self.sym("s", s), self.f("s/.wh.file"), self.f("s/.wh.dir")])
        self.tar("symlink-then-dir", "contain", ["s|dir|", "s/pwned|file|x\n"],
                 "a directory entry over a symlink replaces it",
                 [self.sym("s", s + "/dir"), self.d("s"), self.f("s/pwned")])
        self.tar("symlink-loop", ia + "", [], "a -> b, b -> a, then a/x",
                 [self.sym("a", "b"), self.sym("b", "a"), self.f("a/x")])
        self.tar("symlink-long-target", ia + "PATH_MAX", [], "a symlink target over PATH_MAX",
                 [self.sym("s", "x/" * 2100)])
        self.tar("symlink-outside-kept", "contain", ["s|symlink|" + s + "/file"],
                 "a symlink may point anywhere; it is stored, never followed",
                 [self.sym("s", s + "/file")])
        self.tar("symlink-self-parent", sym_parent, [], "a symlink to \".\" then a file through it",
                 [self.sym("s", "."), self.f("s/x")])
        # The parents planted by base.tar and prepop.tar: each is a symlink into the sentinel.
        for p in ("escape", "escrel", "abs", "up", "lowerdir/link", "mine/esc"):
            tag = p.replace("/", "-")
            self.tar("through-" + tag + "-file", "any", [p + "|dir|", p + "/pwned|file|x\n"],
                     "a file under existing symlink " + p, [self.f(p + "/pwned")])
            self.tar("through-" + tag + "-whiteout", "any", [],
                     "a whiteout of file under existing symlink " + p, [self.f(p + "/.wh.file")])
            self.tar("through-" + tag + "-opaque", "any", [],
                     "an opaque marker in existing symlink " + p, [self.f(p + "/.wh..wh..opq")])
            self.tar("through-" + tag + "-dir", "any", [],
                     "a directory entry (mode 0777, owner 1:1) over existing symlink " + p,
                     [self.d(p, mode=0o777, uid=1, gid=1), self.f(p + "/pwned")])
            self.tar("through-" + tag + "-hardlink", "any", [],
                     "a hardlink to file through existing symlink " + p, [self.hard("h", p + "/file")])
        self.tar("over-escfile", "contain", ["escfile|file|over\n"],
                 "a file entry over an existing symlink to a sentinel file",
                 [self.f("escfile", b"over\n", mode=0o600)])
        self.tar("whiteout-escfile", "contain", ["escfile|whiteout|"],
                 "a whiteout of an existing symlink to a sentinel file", [self.f(".wh.escfile")])

    def hardlinks(self):
        s, srel = self.s, self.srel
        ia = "refuse:InvalidArgument:"
        self.tar("hardlink-absolute", ia + "not an earlier entry", [], "a hardlink to an absolute sentinel path",
                 [self.hard("h", s + "/file")])
        self.tar("hardlink-dotdot", ia + "\"..\" component", [], "a hardlink to ../../sentinel/file",
                 [self.hard("h", UP + srel + "/file")])
        self.tar("hardlink-dir", ia + "is a directory", [], "a hardlink to a directory",
                 [self.d("d"), self.hard("h", "d")])
        self.tar("hardlink-root", ia + "root", [], "a hardlink to the root", [self.hard("h", "./")])
        self.tar("hardlink-via-symlink", ia + "not an earlier entry", [],
                 "a hardlink through a symlinked dir of this layer",
                 [self.sym("s", s), self.hard("h", "s/file")])
        self.tar("hardlink-to-symlink", "any", ["h|symlink|" + s + "/file"],
                 "a hardlink to a symlink links the symlink, not its target",
                 [self.sym("s", s + "/file"), self.hard("h", "s")])
        self.tar("hardlink-lower", ia + "not an earlier entry", [], "a hardlink to a file of a lower layer",
                 [self.hard("h", "etc/passwd")])
        self.tar("hardlink-self", ia + "itself", [], "a hardlink to itself", [self.hard("h", "h")])
        self.tar("hardlink-long-target", ia + "longer than the limit", [], "a hardlink target over PATH_MAX",
                 [self.hard("h", "a/" * 2100)])
        # CVE-2016-5418: a hardlink entry that carries data (pax: the size is honoured).
        ti, _ = self.hard("h", "f", pax_headers={"size": "6"})
        ti.size = 6
        first = self.tar_bytes([self.f("f", b"orig\n")], tarfile.USTAR_FORMAT)[:-1024 * 9]
        data = first + ti.tobuf(tarfile.PAX_FORMAT) + b"PWNED\n".ljust(512, b"\0") + b"\0" * 1024
        self.add("hardlink-with-data", "any", ["f|file|orig\n", "h|file|orig\n"],
                 "a hardlink entry carrying data (CVE-2016-5418)", data)

    def whiteouts(self):
        ia = "refuse:InvalidArgument:"
        self.tar("wh-bare", ia + "does not name a file", [], "\".wh.\"", [self.f(".wh.")])
        self.tar("wh-dot", ia + "does not name a file", [], "\".wh..\" (whiteout of .)", [self.f(".wh..")])
        self.tar("wh-dotdot", ia + "does not name a file", [], "\".wh...\" (whiteout of ..)", [self.f(".wh...")])
        self.tar("wh-dotdot-in-dir", ia + "does not name a file", [], "mine/.wh...",
                 [self.f("mine/.wh...")])
        self.tar("wh-reserved", ia + "reserved", [], "\".wh..wh.foo\"", [self.f(".wh..wh.foo")])
        self.tar("wh-as-dir", ia + "used as a directory", [], "\".wh.x/y\"", [self.f(".wh.x/y")])
        self.tar("opq-with-content", "contain", ["mine|dir|", "mine/file|absent|", "mine/.wh..wh..opq|absent|",
                                                 "mine/new|file|x\n"],
                 "mine/.wh..wh..opq as a regular file with content",
                 [self.f("mine/.wh..wh..opq", b"content\n"), self.f("mine/new")])
        self.tar("wh-file-with-content", "contain", ["mine|whiteout|", ".wh.mine|absent|"],
                 "\".wh.mine\" as a file with content, mine an existing directory",
                 [self.f(".wh.mine", b"content\n", mode=0o4755)])
        # The re-created directory is opaque (overlayfs: marked; native: emptied): nothing
        # of an earlier Apply to the same snapshot (mine) or of a lower layer (lowerdir)
        # shows through.
        self.tar("wh-then-recreate", "contain", ["mine|opaque|", "mine/new|file|x\n", "mine/file|absent|"],
                 "a whiteout of mine, then mine/new in the same layer",
                 [self.f(".wh.mine"), self.d("mine"), self.f("mine/new")])
        self.tar("wh-then-recreate-lower", "contain",
                 ["lowerdir|opaque|", "lowerdir/new|file|x\n", "lowerdir/keep|absent|"],
                 "a whiteout of the lower's lowerdir, then lowerdir/new in the same layer",
                 [self.f(".wh.lowerdir"), self.d("lowerdir"), self.f("lowerdir/new")])
        self.tar("wh-hardlink-to-wh-name", "any", [], "a hardlink to a whiteout's tar name",
                 [self.f(".wh.hl"), self.hard("h", ".wh.hl")])
        self.tar("wh-hardlink-to-target", "any", [], "a hardlink to the name a whiteout removed",
                 [self.f(".wh.hl"), self.hard("h", "hl")])
        self.tar("wh-staging-name", "any", [], "a whiteout of lamina's staging prefix",
                 [self.f(".wh..lamina-apply-0000000000000000")])
        self.tar("staging-prefix-entry", "any", [], "an entry named like lamina's staging dir",
                 [self.d(".lamina-apply-0000000000000000"), self.f(".lamina-apply-0000000000000000/x")])
        self.tar("wh-root-opaque", "contain", ["mine|absent|", "new|file|x\n"],
                 "\".wh..wh..opq\" at the root hides everything below",
                 [self.f(".wh..wh..opq"), self.f("new")])

    def nodes(self):
        ia = "refuse:InvalidArgument:"
        self.tar("fifo", "contain", ["p|fifo|", "p|mode|600"], "a FIFO", [self.info("p", tarfile.FIFOTYPE, 0o600)])
        self.tar("chardev-root", "contain", ["null|chr|"], "a char device, applied by root",
                 [self.info("null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3)])
        self.tar("blockdev-root", "contain", ["sda|blk|"], "a block device, applied by root",
                 [self.info("sda", tarfile.BLKTYPE, 0o660, devmajor=8, devminor=0)])
        self.tar("setuid", "contain", ["su|mode|6755"], "setuid/setgid files are kept on disk",
                 [self.f("su", b"#!/bin/sh\n", mode=0o6755)])
        self.tar("root-as-file", ia + "root can only be a directory", [], "\".\" as a regular file",
                 [self.f(".")])
        self.tar("root-as-symlink", ia + "root can only be a directory", [], "\"./\" as a symlink",
                 [self.sym(".", self.s)])
        self.tar("uid-overflow", ia + "out of range", [], "uid 2^32-1 in a pax header",
                 [self.f("u", uid=0xFFFFFFFF, gid=0)])
        self.tar("dev-overflow", "refuse:InvalidArgument:", [], "device numbers beyond 32 bits",
                 [self.info("n", tarfile.CHRTYPE, 0o600, devmajor=1 << 33, devminor=3)],
                 fmt=tarfile.GNU_FORMAT)

    def xattrs(self):
        def x(**kv):
            return {"SCHILY.xattr." + k.replace("__", "."): v for k, v in kv.items()}
        self.tar("xattr-trusted", "contain",
                 ["t|noxattr|trusted.overlay.opaque", "t/f|noxattr|trusted.evil", "t/f|noxattr|user.overlay.redirect",
                  "t/f|noxattr|security.selinux", "t/f|file|x\n"],
                 "trusted.*, user.overlay.* and security.selinux xattrs are dropped",
                 [self.d("t", pax_headers=x(trusted__overlay__opaque="y")),
                  self.f("t/f", pax_headers={**x(trusted__evil="1"), **x(user__overlay__redirect="/etc"),
                                             **x(security__selinux="system_u:object_r:shadow_t:s0")})])

    def names(self):
        ia = "refuse:InvalidArgument:"
        self.tar("name-component-256", ia + "NAME_MAX", [], "a 256-byte component", [self.f("a/" + "n" * 256)])
        self.tar("name-over-path-max", ia + "longer than the limit", [], "a name over PATH_MAX (pax)",
                 [self.f("/".join(["d" * 200] * 25))])
        self.tar("name-deep-ok", "contain", ["/".join(["d" * 200] * 19) + "|file|x\n"],
                 "a 3.8 KiB name just under PATH_MAX", [self.f("/".join(["d" * 200] * 19))])
        self.tar("pax-path-dotdot", ia + "\"..\" component", [], "ustar name benign, pax path=../x",
                 [self.f("benign", pax_headers={"path": "../" + self.srel + "/pwned"})])
        self.tar("pax-path-up", ia + "\"..\" component", [], "pax path= ../../ to the sentinel",
                 [self.f("benign", pax_headers={"path": UP + self.srel + "/pwned"})])
        self.tar("pax-linkpath-dotdot", ia + "\"..\" component", [], "pax linkpath=../../sentinel/file",
                 [self.hard("benign", "f", pax_headers={"linkpath": UP + self.srel + "/file"})])
        self.tar("gnu-longname-dotdot", ia + "\"..\" component", [], "GNU ././@LongLink name ../x",
                 [self.f(UP + self.srel + "/" + "p" * 120)], fmt=tarfile.GNU_FORMAT)
        self.tar("gnu-longlink-hardlink", ia + "\"..\" component", [], "GNU long link name ../x for a hardlink",
                 [self.hard("h", UP + self.srel + "/file" + "/." * 60)], fmt=tarfile.GNU_FORMAT)
        self.tar("duplicate", "contain", ["dup|file|second\n"], "the same name twice: the last wins",
                 [self.f("dup", b"first\n"), self.f("dup", b"second\n")])
        self.tar("duplicate-dir-file", "contain", ["dup|file|x\n"], "a directory, then a file of the same name",
                 [self.d("dup"), self.f("dup/inner"), self.f("dup")])

    def utf8(self):
        """Non-ASCII names in every dialect: pax records (Go's archive/tar: buildah, podman,
        docker), raw header bytes (GNU, ustar, and v7, whose header has no magic)."""
        cert = "NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.crt"
        d = "certs-\u00e9t\u00e9"
        entries = [self.d(d), self.f(d + "/" + cert, b"cert\n"), self.sym(d + "/l\u00e9n", cert),
                   self.hard(d + "/hard-" + cert, d + "/" + cert)]
        checks = [d + "/" + cert + "|file|cert\n", d + "/l\u00e9n|symlink|" + cert,
                  d + "/hard-" + cert + "|file|cert\n"]
        for name, fmt in (("pax", tarfile.PAX_FORMAT), ("gnu", tarfile.GNU_FORMAT), ("ustar", tarfile.USTAR_FORMAT)):
            self.add("utf8-names-" + name, "contain", checks, "UTF-8 names in " + name + " headers",
                     self.tar_bytes(entries, fmt))
        # A pax name that is not UTF-8 (and no hdrcharset=BINARY): refused, naming that
        # entry (not the one before), its bytes escaped so the error is UTF-8 for D-Bus.
        notutf8 = self.tar_bytes([self.f("first-entry"), self.f("benign", pax_headers={"path": "latin1-XtX"})])
        self.add("pax-name-not-utf8", "refuse:InvalidArgument:layer entry \"latin1-\\xe9t\\xe9\"", [],
                 "a pax path that is not UTF-8", notutf8.replace(b"latin1-XtX", b"latin1-\xe9t\xe9"))
        self.add("utf8-names-v7", "contain", checks[:1] + checks[2:], "UTF-8 names in v7 headers",
                 v7(self.tar_bytes([entries[0], entries[1], entries[3]], tarfile.USTAR_FORMAT)))

    def streams(self):
        ia = "refuse:InvalidArgument:"
        bad = ia + "not a valid tar"
        big = self.tar_bytes([self.f("big", bytes(range(256)) * 512), self.f("after")])
        gz = gzip.compress(big, mtime=0)
        self.add("truncated-half", bad, [], "a tar cut in the middle of a file's data", big[: len(big) // 2])
        self.add("truncated-header", bad, [], "a tar cut inside the second header",
                 big[: 512 + 256 * 512 + 100])
        self.add("truncated-gzip", bad, [], "a gzip stream cut in half", gz[: len(gz) // 2])
        corrupt = bytearray(big)
        corrupt[512 + 256 * 512: 512 + 256 * 512 + 64] = os.urandom(64)
        self.add("corrupt-header", bad, [], "random bytes over the second header", bytes(corrupt))
        # libarchive 3.6's gzip filter never checks the CRC32 and length trailer ("TODO:
        # Verify the length and CRC"); zlib does. Go's gzip (containerd) refuses these too.
        crc = bytearray(gz)
        crc[-8] ^= 0xFF
        self.add("gzip-bad-crc", bad, [], "a gzip stream with a wrong CRC32", bytes(crc))
        size = bytearray(gz)
        size[-4] ^= 0xFF
        self.add("gzip-bad-isize", bad, [], "a gzip stream with a wrong length trailer", bytes(size))
        mid = bytearray(gz)
        for i in range(len(mid) // 2, len(mid) // 2 + 32):
            mid[i] ^= 0x5A
        self.add("gzip-corrupt-middle", bad, [], "random damage inside the deflate data", bytes(mid))
        zst = subprocess.run(["zstd", "-q", "-c"], input=big, stdout=subprocess.PIPE, check=True).stdout
        zbad = bytearray(zst)
        for i in range(len(zbad) // 2, len(zbad) // 2 + 16):
            zbad[i] ^= 0x5A
        self.add("zstd-corrupt", bad, [], "a damaged zstd frame", bytes(zbad))
        self.add("zstd-truncated", bad, [], "a zstd frame cut in half", zst[: len(zst) // 2])
        self.add("random-bytes", ia, [], "64 KiB of random bytes", os.urandom(65536))
        self.add("gzip-of-random", ia, [], "gzip of random bytes", gzip.compress(os.urandom(65536)))
        self.add("gzip-then-garbage", ia + "data follows the end of the gzip stream", [],
                 "a valid gzip layer followed by junk", gz + b"JUNKJUNK" * 64)
        self.add("gzip-two-members", "contain", ["big|mode|644", "after|file|x\n"],
                 "two gzip members, as gzip -c a >l; gzip -c b >>l writes them",
                 gzip.compress(big[:7000], mtime=0) + gzip.compress(big[7000:], mtime=0))
        self.add("empty", "any", [], "an empty file", b"")
        # A GNU sparse file of 100 GiB: over the default 64 GiB limit, costs nothing to send.
        self.sparse_huge()

    def sparse_huge(self):
        tmp = os.path.join(self.outdir, "sparse.dir")
        os.mkdir(tmp)
        path = os.path.join(tmp, "huge")
        with open(path, "wb") as out:
            out.truncate(100 << 30)
            out.seek(50 << 30)
            out.write(b"data")
        data = subprocess.run(["tar", "--sparse", "--format=gnu", "-C", tmp, "-cf", "-", "huge"],
                              stdout=subprocess.PIPE, check=True).stdout
        os.unlink(path)
        os.rmdir(tmp)
        # Refused from its header, before the writer starts on it.
        self.add("sparse-100g", "refuse:QuotaExceeded:huge", [], "a sparse file of 100 GiB (over the 64 GiB limit)", data)

    def done(self):
        with open(os.path.join(self.outdir, "corpus.list"), "w") as out:
            for line in self.lines:
                out.write("\t".join(line) + "\n")


def header(name, kind):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = 0o755
    ti.mtime = 1700000000
    return ti.tobuf(tarfile.USTAR_FORMAT)


def v7(data):
    """A ustar archive turned into v7: no magic, no version, no owner names, directories as
    regular entries whose name ends in "/"; checksums recomputed."""
    out, pos = bytearray(data), 0
    while pos + 512 <= len(out) and any(out[pos:pos + 512]):
        h = out[pos:pos + 512]
        h[257:345] = bytes(88)  # magic, version, uname, gname
        if h[156:157] == b"5":
            h[156:157] = b"\0"
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        out[pos:pos + 512] = h
        size = int(h[124:136].rstrip(b"\0 ") or b"0", 8) if h[156:157] in (b"0", b"\0") else 0
        pos += 512 + (size + 511) // 512 * 512
    return bytes(out)


def repeated(path, first, entry, entries):
    """first, then ENTRIES copies of one header: ~512 bytes each uncompressed, next to
    nothing gzip-compressed."""
    chunk = entry * 4096
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(z.compress(first))
        for _ in range(entries // 4096):
            out.write(z.compress(chunk))
        out.write(z.compress(entry * (entries % 4096) + b"\0" * 1024))
        out.write(z.flush())


def gzip_stream(out, chunks):
    """Writes one gzip member of the byte strings chunks yields to out."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    for c in chunks:
        out.write(z.compress(c))
    out.write(z.flush())


def pax(records, name="PaxHeaders/x"):
    """A pax 'x' header block and its records (a dict), padded."""
    body = b""
    for k, v in records.items():
        rec = b" " + k.encode() + b"=" + v + b"\n"
        n = len(rec) + 1
        while len(str(n)) + len(rec) != n:
            n += 1
        body += str(n).encode() + rec
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.XHDTYPE
    ti.size = len(body)
    return ti.tobuf(tarfile.USTAR_FORMAT) + body + b"\0" * (-len(body) % 512)


def bombs(outdir):
    """Layers that cost the parser memory, CPU or nothing but a refusal; bombs.list has
    NAME<TAB>ERROR<TAB>TEXT<TAB>WHAT lines (the Apply must fail with that error, its message
    containing TEXT)."""
    lines = []

    def add(name, error, text, what):
        lines.append("\t".join((name, error, text, what)))

    # GNU sparse 1.0 (pax): the map, in the data, has 30 M zero entries; libarchive keeps
    # each in memory (~48 bytes): 1.4 GB, over the parser's 1 GiB address space.
    n = 30_000_000
    with open(os.path.join(outdir, "sparse-map.tar.gz"), "wb") as out:
        hdr = pax({"GNU.sparse.major": b"1", "GNU.sparse.minor": b"0", "GNU.sparse.name": b"bomb",
                   "GNU.sparse.realsize": b"1048576"})
        ti = tarfile.TarInfo("GNUSparseFile.0/bomb")
        ti.size = len(str(n)) + 1 + 4 * n
        ti.size += -ti.size % 512
        first = hdr + ti.tobuf(tarfile.USTAR_FORMAT) + str(n).encode() + b"\n"
        chunk = b"0\n0\n" * 262144

        def gen():
            yield first
            for _ in range(n // 262144):
                yield chunk
            yield b"0\n0\n" * (n % 262144) + b"\0" * 4096
        gzip_stream(out, gen())
    add("sparse-map.tar.gz", "QuotaExceeded", "bytes of memory", "a GNU sparse map of 30 M entries (120 MB, 0.1 MB gzip)")

    # A zstd frame asking for a 2 GiB window (zstd --long=31 on a stream of unknown size).
    small = Corpus.tar_bytes([Corpus.info("f", data=b"x" * 100000)[0:2]])
    zst = subprocess.run(["zstd", "-q", "--long=31", "-c"], input=small, stdout=subprocess.PIPE, check=True).stdout
    with open(os.path.join(outdir, "zstd-window.tar.zst"), "wb") as out:
        out.write(zst)
    add("zstd-window.tar.zst", "InvalidArgument", "zstd", "a zstd frame with a 2 GiB window (--long=31)")

    # 512 MiB of zeros after a small tar, in 0.5 MB of gzip: over a 256 MiB byte limit.
    with open(os.path.join(outdir, "gzip-bomb.tar.gz"), "wb") as out:
        zeros = bytes(1 << 20)
        gzip_stream(out, [small] + [zeros] * 512)
    add("gzip-bomb.tar.gz", "QuotaExceeded", "bytes uncompressed", "512 MiB of zeros in 0.5 MB of gzip")

    # pax size= of 2^60 bytes: refused from the header.
    with open(os.path.join(outdir, "pax-size.tar"), "wb") as out:
        ti = tarfile.TarInfo("huge")
        out.write(pax({"size": str(1 << 60).encode()}) + ti.tobuf(tarfile.USTAR_FORMAT) + bytes(1024))
    add("pax-size.tar", "QuotaExceeded", "huge", "a pax size= of 2^60 bytes")

    # A GNU.sparse.map record of 1 MB (0.1 format): over libarchive's limit per record.
    with open(os.path.join(outdir, "pax-sparse-map.tar"), "wb") as out:
        m = b",".join([b"0"] * 500_100)
        ti = tarfile.TarInfo("sparse01")
        out.write(pax({"GNU.sparse.major": b"0", "GNU.sparse.minor": b"1", "GNU.sparse.map": m,
                       "GNU.sparse.size": b"1048576"}) + ti.tobuf(tarfile.USTAR_FORMAT) + bytes(1024))
    add("pax-sparse-map.tar", "InvalidArgument", "libarchive could not read all of its header",
        "a GNU.sparse.map pax record of 1 MB")

    # A pax header announcing 1 GiB of records (8 KiB of them present).
    with open(os.path.join(outdir, "header-1g.tar"), "wb") as out:
        ti = tarfile.TarInfo("PaxHeaders/big")
        ti.type = tarfile.XHDTYPE
        ti.size = 1 << 30
        out.write(ti.tobuf(tarfile.USTAR_FORMAT) + b"9 a=bcde\n" * 900 + bytes(1024))
    add("header-1g.tar", "InvalidArgument", "header too large", "a pax header of 1 GiB")

    with open(os.path.join(outdir, "bombs.list"), "w") as out:
        out.write("\n".join(lines) + "\n")


def main():
    if sys.argv[1] == "--bombs":
        bombs(sys.argv[2])
        return
    if sys.argv[1] == "--bomb":
        # The daemon must stop at its entry limit. Whiteouts of one name cost the native
        # snapshotter next to nothing (they never reach the writer), so even the default
        # limit is reached in seconds.
        repeated(os.path.join(sys.argv[2], "bomb.tar.gz"), b"", header(".wh.bomb", tarfile.REGTYPE),
                 int(sys.argv[3]))
        return
    if sys.argv[1] == "--opaques":
        repeated(os.path.join(sys.argv[2], "opaques.tar.gz"), header("d", tarfile.DIRTYPE),
                 header("d/.wh..wh..opq", tarfile.REGTYPE), int(sys.argv[3]))
        return
    c = Corpus(sys.argv[1], sys.argv[2])
    c.parents()
    c.traversal()
    c.symlinks()
    c.hardlinks()
    c.whiteouts()
    c.nodes()
    c.xattrs()
    c.names()
    c.utf8()
    c.streams()
    c.done()


main()
