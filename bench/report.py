#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/run's report: reads one file of samples per series (one repetition per line),
prints the markdown table (min / median / max, target, met or not), writes the JSON files
and, for a full run, puts the table into bench/README.md between its markers.
Exits 1 if a figure was not produced (never because of a speed)."""

import argparse
import datetime
import json
import os
import statistics
import sys

MIN_REPS = 5
README_BEGIN = "<!-- bench:table:begin -->"
README_END = "<!-- bench:table:end -->"

# Rows of the table: (title, lamina series, peer series or None, unit, target)
# target: None (for information), ("max", X): lamina median <= X,
# ("faster", X): peer median / lamina median >= X (times),
# ("throughput", X): lamina median / peer median >= X (rates),
# ("overhead", X): lamina median / peer median - 1 <= X,
# ("slower", X): lamina median / peer median <= X (times),
# ("plus", X): lamina median - peer median <= X (the peer is a floor).
ROWS = [
    ("Floor: an empty process linked like a minimal sd-bus client, exec'd", "floor_empty", None, "ms", None),
    ("Floor: the same process making one Peer.Ping call to laminad", "floor_ping", None, "ms", None),
]
for cmd in ("prepare", "commit", "rm", "ls", "info"):
    ROWS.append(("laminactl %s, one process / the empty-process floor" % cmd,
                 "cli_%s_lamina" % cmd, "floor_empty", "ms", ("plus", 3.0)))
    ROWS.append(("laminactl %s, one process / ctr snapshots %s" % (cmd, cmd),
                 "cli_%s_lamina" % cmd, "cli_%s_ctr" % cmd, "ms", ("faster", 4.0)))
ROWS += [
    ("Prepare+Commit+Remove per snapshot, one process per command (laminactl / ctr snapshots)",
     "pcr_cli_lamina", "pcr_cli_containerd", "ms", ("faster", 5.0)),
    ("Prepare+Commit+Remove per snapshot, one long-lived sd-bus client / core in-process",
     "pcr_bus", "pcr_core", "µs", None),
    ("Bus overhead per call ((bus − core) / 3 of the row above, durable writes included in both) / "
     "one Peer.Ping round trip", "pcr_bus_overhead_per_call_disk", "ping_bus", "µs", None),
    ("Prepare+Commit+Remove per snapshot, state on tmpfs: bus client / core in-process",
     "pcr_bus_tmpfs", "pcr_core_tmpfs", "µs", None),
    ("Floor: Peer.Ping round trip to laminad, long-lived sd-bus client", "ping_bus", None, "µs", None),
    ("Bus overhead per call ((bus − core) / 3 of the tmpfs row) / one Peer.Ping round trip",
     "pcr_bus_overhead_per_call", "ping_bus", "µs", ("slower", 1.25)),
    ("Prepare+Commit+Remove per snapshot, state on tmpfs: bus client that muted the signals of its own calls "
     "(Monitor.Mute) / core in-process", "pcr_bus_muted_tmpfs", "pcr_core_tmpfs", "µs", None),
    ("Bus overhead per call of that muted client ((bus − core) / 3) / one Peer.Ping round trip",
     "pcr_bus_muted_overhead_per_call", "ping_bus", "µs", ("slower", 1.25)),
]
for depth in (16, 128, 500):
    ROWS.append(("Prepare + mount, chain of %d: bus client Prepare+Mount / ctr prepare --mounts + mount(8)" % depth,
                 "chain_lamina_%d" % depth, "chain_containerd_%d" % depth, "ms",
                 ("max", 10.0) if depth == 500 else None))
    ROWS.append(("Prepare + mount, chain of %d: laminactl prepare --mount (one process) / same peer" % depth,
                 "chain_laminactl_%d" % depth, "chain_containerd_%d" % depth, "ms", None))
ROWS += [
    ("Deepest chain whose containerd spec mount(8) still mounts", None,
     "containerd_spec_max_layers", "layers", None),
    ("Apply of one large layer, plain tar (lamina Apply / GNU tar -x)",
     "apply_lamina_plain", "apply_tar_plain", "MB/s", ("throughput", 1.0)),
    ("Apply of one large layer, plain tar (lamina Apply / GNU tar -x then sync(1))",
     "apply_lamina_plain", "apply_tar_sync_plain", "MB/s", None),
    ("Apply of one large layer, gzip (lamina Apply / GNU tar -xz)",
     "apply_lamina_gzip", "apply_tar_gzip", "MB/s", ("throughput", 1.2)),
    ("import + unpack of a multi-layer OCI image (laminactl import / ctr images import)",
     "import_lamina", "import_containerd", "s", ("faster", 4.0)),
    ("import of the real Debian image, docker-archive (laminactl import / ctr images import)",
     "real_image_lamina", "real_image_containerd", "s", ("faster", 4.0)),
    ("import of the real Debian image, docker-archive (laminactl import / podman load)",
     "real_image_lamina", "real_image_podman", "s", ("faster", 4.0)),
    ("CPU time of the multi-layer import (laminactl, laminad and its unpack helpers / ctr and containerd)",
     "import_lamina_cpu", "import_containerd_cpu", "s", None),
    ("CPU time of the Debian import (laminactl, laminad and its unpack helpers / ctr and containerd)",
     "real_image_lamina_cpu", "real_image_containerd_cpu", "s", None),
    ("CPU time of the Debian import (laminactl, laminad and its unpack helpers / podman load)",
     "real_image_lamina_cpu", "real_image_podman_cpu", "s", None),
    ("List of all snapshots over the bus", "many_list", None, "ms", ("max", 500.0)),
    ("Stat p50 over the bus", "many_stat_p50", None, "µs", None),
    ("Stat p99 over the bus", "many_stat_p99", None, "µs", ("max", 1000.0)),
    ("laminad RSS after List of all", "many_rss", None, "MiB", ("max", 16.0)),
    ("laminad anonymous memory after List of all (RssAnon; the rest is the store's mapped file)",
     "many_rss_anon", None, "MiB", None),
    ("laminad idle RSS (just activated)", "idle_rss", None, "MiB", ("max", 4.0)),
    ("First call to a stopped laminad (D-Bus activation) to reply", "activation", None, "ms", ("max", 50.0)),
    ("From request to a running rootless shell, busybox (laminactl run --rootless --rm / podman run --rm, rootless)",
     "rootless_lamina", "rootless_podman", "ms", ("faster", 1.0)),
    ("... until the command has ended and its container is removed (same commands)",
     "rootless_lamina_total", "rootless_podman_total", "ms", None),
    ("Usage of a snapshot of usage_links files with two hardlinked names each (laminactl usage / du -s)",
     "usage_links_lamina", "usage_links_du", "ms", ("slower", 1.5)),
    ("Usage of an active snapshot of usage_files files with ext4 project quotas (laminactl usage / du -s, the walk)",
     "usage_project_lamina", "usage_project_du", "ms", ("faster", 10.0)),
]


def read_series(samples_dir, name):
    """Numbers, plus the count of 'fail' and 'skipped' entries."""
    path = os.path.join(samples_dir, name)
    values, fails, skipped, unavailable = [], 0, 0, 0
    if name and os.path.exists(path):
        for line in open(path):
            word = line.split()[0] if line.split() else ""
            if word == "fail":
                fails += 1
            elif word == "skipped":
                skipped += 1
            elif word == "unavailable":  # the peer cannot run on this machine
                skipped += 1
                unavailable += 1
            elif word:
                values.append(float(word))
    return {"samples": values, "fails": fails, "skipped": skipped, "unavailable": unavailable}


def summarize(series):
    v = series["samples"]
    if v:
        series.update(min=min(v), median=statistics.median(v), max=max(v))
    return series


def produced(series):
    return len(series["samples"]) + series["fails"] + series["skipped"] >= MIN_REPS


def fmt_num(x):
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def fmt_series(series, unit):
    if series is None:
        return "—"
    if not produced(series):
        return "**not produced**"
    if series["unavailable"]:
        return "cannot run on this machine"
    if series["skipped"]:
        return "not measured (--quick)"
    if not series["samples"]:
        return "mount(8) fails (%d/%d)" % (series["fails"], series["fails"])
    text = "%s / %s / %s %s" % (fmt_num(series["min"]), fmt_num(series["median"]),
                                fmt_num(series["max"]), unit)
    if series["fails"]:
        text += " (%d failed)" % series["fails"]
    return text


def judge(target, lamina, peer):
    """(target text, met: True/False/None, value text)."""
    if target is None:
        return "—", None, ""
    kind, x = target
    if lamina is None or "median" not in lamina:
        return target_text(target), None, ""
    m = lamina["median"]
    if kind == "max":
        return target_text(target), m <= x, ""
    if peer is None or "median" not in peer or peer["median"] == 0 or m == 0:
        return target_text(target), None, ""
    if kind == "faster":
        r = peer["median"] / m
        return target_text(target), r >= x, "%.2f×" % r
    if kind == "throughput":
        r = m / peer["median"]
        return target_text(target), r >= x, "%.2f×" % r
    if kind == "slower":
        r = m / peer["median"]
        return target_text(target), r <= x, "%.2f×" % r
    if kind == "plus":
        d = m - peer["median"]
        return target_text(target), d <= x, "%+.2f" % d
    r = m / peer["median"] - 1
    return target_text(target), r <= x, "%+.0f %%" % (100 * r)


def target_text(target):
    kind, x = target
    return {"max": "≤ %g", "faster": "≥ %g× faster", "throughput": "≥ %g× peer", "slower": "≤ %g× peer", "plus": "≤ peer + %g",
            "overhead": "≤ %d %% overhead"}[kind] % (x * 100 if kind == "overhead" else x)


def build(args):
    names = {n for _, a, b, _, _ in ROWS for n in (a, b) if n}
    series = {n: summarize(read_series(args.samples, n)) for n in sorted(names)}
    rows, missing = [], []
    for title, a, b, unit, target in ROWS:
        la, pe = series.get(a), series.get(b)
        if args.only and not any(n and (series[n]["samples"] or series[n]["fails"] or series[n]["unavailable"]) for n in (a, b)):
            continue  # a section that --only did not run
        for n in (a, b):
            if n and not produced(series[n]):
                missing.append(n)
        ttext, met, value = judge(target, la, pe)
        rows.append({"figure": title, "lamina": a, "peer": b, "unit": unit, "target": ttext,
                     "ratio": value, "met": met,
                     "lamina_text": fmt_series(la, unit), "peer_text": fmt_series(pe, unit)})
    return series, rows, sorted(set(missing))


def table(args, machine, rows):
    m = machine
    lines = [
        "Machine: %s, %s cores, %s GiB, kernel %s, filesystem %s (one durable 4 KiB write: %s ms); "
        "containerd %s; lamina %s; %s run on %s (load average before / after: %s / %s). "
        "Each cell: min / median / max of %d repetitions."
        % (m.get("cpu"), m.get("cores"), m.get("memory_gib"), m.get("kernel"),
           " ".join(str(m.get("filesystem")).split()), m.get("dsync_write_ms"), m.get("containerd"),
           args.commit, args.mode, args.date, m.get("load_before"), m.get("load_after"), MIN_REPS),
        "Sizes: %s." % args.sizes,
        "",
        "| figure | lamina | peer | target | result |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["met"] is None:
            result = "—" if r["target"] == "—" else "not measured"
        else:
            result = "met" if r["met"] else "**not met**"
        if r["ratio"]:
            result += " (%s)" % r["ratio"]
        lines.append("| %s | %s | %s | %s | %s |" % (r["figure"], r["lamina_text"], r["peer_text"],
                                                     r["target"], result))
    return "\n".join(lines) + "\n"


def update_readme(path, text):
    old = open(path).read()
    b, e = old.find(README_BEGIN), old.find(README_END)
    if b < 0 or e < b:
        print("report: %s has no %s … %s markers; not updated" % (path, README_BEGIN, README_END),
              file=sys.stderr)
        return
    with open(path, "w") as f:
        f.write(old[:b + len(README_BEGIN)] + "\n" + text + old[e:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--commit", default="unknown")
    p.add_argument("--machine", default="{}")
    p.add_argument("--sizes", default="")
    p.add_argument("--json", nargs="*", default=[])
    p.add_argument("--readme")
    p.add_argument("--only", action="store_true", help="only some sections ran: leave out the rows of the others")
    args = p.parse_args()
    args.date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = json.loads(args.machine)
    machine["load_after"] = open("/proc/loadavg").read().split()[0]
    series, rows, missing = build(args)
    failed = []
    if os.path.exists(os.path.join(args.samples, ".failed")):
        failed = open(os.path.join(args.samples, ".failed")).read().split()
    text = table(args, machine, rows)
    print(text)
    doc = {"mode": args.mode, "date": args.date, "commit": args.commit, "machine": machine,
           "sizes": args.sizes, "repetitions": MIN_REPS, "series": series, "rows": rows,
           "missing": missing, "failed_sections": failed}
    for path in args.json:
        with open(path, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    if args.readme:
        update_readme(args.readme, text)
    if missing or (args.only and failed):
        print("bench: figures not produced: %s (failed sections: %s)"
              % (", ".join(missing) or "those of the failed sections", ", ".join(failed) or "none"), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
