#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Builds bench/run's inputs from one list of files (paths relative to /):

  mkimage.py layer LIST OUT.tar
      one tar of all files in LIST (GNU tar, --no-recursion, in list order)
  mkimage.py image LIST LAYERS OUTDIR
      an OCI image layout in OUTDIR/layout (LAYERS gzip layers of consecutive parts of
      LIST, each with the parent directories of its files), OUTDIR/image.tar (the same
      layout as one tar, for `ctr images import`) and OUTDIR/chain-ids (one per line,
      bottom layer first: the snapshot names `laminactl import` creates).
"""

import hashlib
import json
import os
import subprocess
import sys

REF = "bench:latest"
CONTAINERD_NAME = "docker.io/library/bench:latest"


def tar_files(paths, out):
    listing = out + ".list"
    with open(listing, "w") as f:
        f.write("".join(p + "\n" for p in paths))
    subprocess.run(["tar", "--no-recursion", "-C", "/", "-cf", out, "-T", listing], check=True,
                   stderr=subprocess.DEVNULL)
    os.unlink(listing)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def with_parents(paths):
    """paths plus every parent directory of each, parents first, each once."""
    seen, out = set(), []
    for p in paths:
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            q = "/".join(parts[:i])
            if q not in seen:
                seen.add(q)
                out.append(q)
    return out


def put_blob(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def make_layer(blobs, work, paths, i):
    plain = os.path.join(work, "layer-%d.tar" % i)
    tar_files(with_parents(paths), plain)
    diff_id = "sha256:" + sha256_file(plain)
    subprocess.run(["gzip", "-f", plain], check=True)
    gz = plain + ".gz"
    digest = sha256_file(gz)
    size = os.path.getsize(gz)
    os.rename(gz, os.path.join(blobs, digest))
    return diff_id, {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": "sha256:" + digest, "size": size}


def chain_ids(diff_ids):
    out = [diff_ids[0]]
    for d in diff_ids[1:]:
        out.append("sha256:" + hashlib.sha256((out[-1] + " " + d).encode()).hexdigest())
    return out


def make_image(paths, n_layers, outdir):
    layout = os.path.join(outdir, "layout")
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)
    per = (len(paths) + n_layers - 1) // n_layers
    parts = [paths[i:i + per] for i in range(0, len(paths), per)]
    layers = [make_layer(blobs, outdir, part, i) for i, part in enumerate(parts)]
    diff_ids = [d for d, _ in layers]
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Cmd": ["/usr/bin/true"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": "bench/mkimage.py"} for _ in layers]}
    cdigest, csize = put_blob(blobs, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": csize},
                "layers": [d for _, d in layers]}
    mdigest, msize = put_blob(blobs, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": mdigest, "size": msize,
                            "platform": {"architecture": "amd64", "os": "linux"},
                            "annotations": {"org.opencontainers.image.ref.name": REF,
                                            "io.containerd.image.name": CONTAINERD_NAME}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    subprocess.run(["tar", "-C", layout, "-cf", os.path.join(outdir, "image.tar"), "."], check=True)
    with open(os.path.join(outdir, "chain-ids"), "w") as f:
        f.write("".join(c + "\n" for c in chain_ids(diff_ids)))


def main(argv):
    with open(argv[2]) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    if argv[1] == "layer" and len(argv) == 4:
        tar_files(paths, argv[3])
    elif argv[1] == "image" and len(argv) == 5:
        make_image(paths, int(argv[3]), argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
