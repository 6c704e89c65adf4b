/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "ctl-help.h"
#include "ctl.h"
#include "strutil.h"

/* What `laminactl help CMD` and `laminactl CMD --help` print: the synopsis, then what it does. */
typedef struct VerbHelp {
        const char *name;
        const char *synopsis;
        const char *text;
} VerbHelp;

static const VerbHelp verb_help[] = {
        { "ls", "ls [--list-keys] [FILTER...]",
          "List snapshots: yours and root's committed ones. Each FILTER is containerd's syntax,\n"
          "e.g. kind==committed or 'labels.\"a.b/c\"==x,parent!=\"\"'; several\n"
          "FILTERs are alternatives. Fields: name, parent, kind, owner, labels.KEY. Alias: list." },
        { "info", "info KEY", "Show one snapshot as JSON (name, parent, kind, labels, times, owner)." },
        { "tree", "tree", "Show snapshots as a tree of parents." },
        { "prepare", "prepare [--mount [--target DIR]] KEY [PARENT]",
          "Create an active (writable) snapshot KEY on PARENT (a committed snapshot or an image\n"
          "name), or empty;\n"
          "with --mount also mount it and print where." },
        { "view", "view [--mount [--target DIR]] KEY [PARENT]",
          "Create a read-only view KEY of PARENT (a committed snapshot or an image name); with\n"
          "--mount also mount it and print where." },
        { "commit", "commit NAME KEY", "Commit active snapshot KEY as the read-only snapshot NAME." },
        { "rm", "rm KEY...", "Remove snapshots (children first). Alias: remove." },
        { "mounts", "mounts KEY [TARGET]", "Print the mount(8) command lines that would mount KEY at TARGET." },
        { "usage", "usage [-b] [KEY...]", "Show the disk space and inodes snapshots use; -b in bytes." },
        { "df", "df [-b]",
          "Show per user and snapshotter the disk space, inodes, snapshots and label bytes held,\n"
          "and each user's total against its quota (laminad.conf); root sees every user, anyone\n"
          "else only itself. -b: sizes in bytes." },
        { "label", "label KEY [K=V|K=|K...]",
          "Show KEY's labels; K=V sets one, K= or K removes it." },
        { "mount", "mount KEY [TARGET] [-o OPTS]",
          "Mount a snapshot (under laminad's runtime directory unless TARGET) and print where.\n"
          "OPTS: ro, noexec, nosuid, nodev, suid, dev, idmap (comma-separated)." },
        { "umount", "umount KEY [--force]",
          "Unmount what mount did. With --force, also while in use: the mount leaves at once and the snapshot stays busy until its last user lets go. Alias: unmount." },
        { "list-mounts", "list-mounts", "List the mounts laminad made." },
        { "apply", "apply KEY FILE|-", "Unpack a layer tar (optionally compressed) into active snapshot KEY; prints its diff ID." },
        { "import", "import PATH|- [--name REF] [--no-replace]",
          "Import an OCI image layout or docker save archive (a directory or a tar, compressed or\n"
          "not; - reads standard input): one committed snapshot per layer, named by its chain ID,\n"
          "and the image REF (see images). A name you had moves (a warning says from what);\n"
          "--no-replace refuses that instead. Ctrl-C takes the import back." },
        { "cleanup", "cleanup",
          "Remove snapshots that interrupted imports left, then reclaim disk space no snapshot\n"
          "refers to." },
        { "snapshotters", "snapshotters", "List the snapshotters laminad offers and which is the default." },
        { "run", "run IMAGE [--name NAME] [--rm|--commit NAME] [--boot] [NSPAWN-OPTIONS] [-- COMMAND...]\n"
                 "laminactl [OPTIONS...] run --rootless IMAGE [--name NAME] [--rm|--commit NAME] [-- COMMAND...]",
          "Run a container with systemd-nspawn on a new active snapshot of IMAGE (an image name\n"
          "or a committed snapshot); --rm removes the snapshot afterwards, --commit commits it.\n"
          "An image's config gives the command (Entrypoint, then COMMAND or Cmd), Env, WorkingDir\n"
          "and User. NSPAWN-OPTIONS, passed on as they are: --bind=, --bind-ro=, -E/--setenv=,\n"
          "--private-network, --network-veth, --private-users[=].\n"
          "With --rootless, as an ordinary user and without systemd-nspawn: in a user namespace\n"
          "mapping your uid and gid as 0 and your /etc/subuid, /etc/subgid ranges as 1..N\n"
          "(newuidmap, newgidmap), on laminad's idmapped mount of the snapshot, with its own\n"
          "/proc, a minimal /dev and /tmp (no network namespace); without COMMAND or Cmd, /bin/sh." },
        { "monitor", "monitor",
          "Print each change to your snapshots, images and mounts as it happens, whoever makes it\n"
          "(root: everyone's): the Snapshotter signals and the objects' InterfacesAdded,\n"
          "PropertiesChanged and InterfacesRemoved; one line per change, or one JSON object per\n"
          "line with --json. Ctrl-C ends it." },
        { "import-tar", "import-tar FILE|- [--name NAME] [--no-replace]",
          "Import a plain root file system tar (compressed or not; - reads standard input) as a\n"
          "one-layer image NAME (default: the file's name without .tar); --no-replace as import." },
        { "export", "export [--diff] KEY|IMAGE [FILE|-]",
          "Write a snapshot, or an image's file system, as a tar (pax, numeric owners, xattrs,\n"
          "hard links) to FILE or standard output; with --diff, a committed snapshot's (or an\n"
          "image's top) changes against its parent as an OCI layer (whiteouts for what is gone)." },
        { "images", "images",
          "List images: yours and root's, each name with the top snapshot it stands for." },
        { "tag", "tag IMAGE NAME...",
          "Give IMAGE (yours or root's) more names, like name:tag; a name you had moves." },
        { "untag", "untag NAME...", "Remove image names; the image's snapshots stay." },
        { "rmi", "rmi NAME...",
          "Remove images: the name, then the image's layers from the top down as long as they are\n"
          "yours, no other image names them and nothing is built on them." },
        { "help", "help [COMMAND]", "Show the help of COMMAND, or of laminactl." },
};

void ctl_help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Manage lamina snapshots through laminad (org.lamina.snapshot1).\n\n"
               "Snapshot commands:\n"
               "  ls [FILTER...]                 List snapshots (containerd filter syntax)\n"
               "  info KEY                       Show one snapshot as JSON\n"
               "  tree                           Show snapshots as a tree of parents\n"
               "  prepare [--mount [--target DIR]] KEY [PARENT]\n"
               "                                 Create an active (writable) snapshot\n"
               "  view [--mount [--target DIR]] KEY [PARENT]\n"
               "                                 Create a read-only view\n"
               "  commit NAME KEY                Commit active snapshot KEY as NAME\n"
               "  rm KEY...                      Remove snapshots\n"
               "  mounts KEY [TARGET]            Print the mount(8) command lines for KEY\n"
               "  usage [-b] [KEY...]            Show disk usage\n"
               "  df [-b]                        Show what users hold against their quotas\n"
               "  label KEY [K=V|K=|K...]        Show or change labels\n"
               "  apply KEY FILE|-               Unpack a layer tar into an active snapshot\n"
               "  cleanup                        Reclaim disk space no snapshot refers to\n"
               "  snapshotters                   List available snapshotters\n"
               "  monitor                        Print changes as they happen (own objects; root: all)\n"
               "  help [COMMAND]                 Show the help of COMMAND\n"
               "\nImage commands:\n"
               "  import PATH|- [--name REF]     Import an OCI image layout or docker save archive\n"
               "  import-tar FILE|- [--name NAME]\n"
               "                                 Import a plain root file system tar as an image\n"
               "  export [--diff] KEY|IMAGE [FILE|-]\n"
               "                                 Write a snapshot or an image (or its top layer) as a tar\n"
               "  images                         List images\n"
               "  tag IMAGE NAME...              Give an image more names\n"
               "  untag NAME...                  Remove image names\n"
               "  rmi NAME...                    Remove images and the layers only they use\n"
               "\nMount commands:\n"
               "  mount KEY [TARGET] [-o OPTS]   Mount a snapshot, print where\n"
               "  umount KEY [--force]           Unmount what mount did\n"
               "  list-mounts                    List mounts made by laminad\n"
               "  run IMAGE [--name NAME] [--rm|--commit NAME] [--boot] [-- COMMAND...]\n"
               "                                 Run a container on a new snapshot of IMAGE\n"
               "  run --rootless IMAGE [--name NAME] [--rm|--commit NAME] [-- COMMAND...]\n"
               "                                 ... as an ordinary user, in a user namespace\n"
               "\nOptions:\n"
               "  -h --help                      Show this help\n"
               "     --version                   Show the version\n"
               "  -s --snapshotter=NAME          Use this snapshotter (default: laminad's)\n"
               "     --user=UID                  Act on the snapshots of UID\n"
               "     --json=pretty|short         Print JSON\n"
               "     --no-legend                 Omit table headers and footers\n"
               "     --no-pager                  Do not pipe output into a pager\n"
               "  -q --quiet                     Print less (no progress, no hints)\n"
               "     --mount                     prepare/view: mount the new snapshot\n"
               "  -t --target=DIR                prepare/view: mount it here (implies --mount)\n"
               "  -b --bytes                     usage, df: sizes in bytes\n"
               "  -o --options=OPTS              mount: ro,noexec,nosuid,nodev,suid,dev,idmap\n"
               "     --name=NAME                 import, import-tar: image name; run: machine and snapshot name\n"
               "     --no-replace                import, import-tar: refuse to move an image name you have\n"
               "  -f --force                     umount: also while in use (detach)\n"
               "     --rm                        run: remove the snapshot afterwards\n"
               "     --commit=NAME               run: commit the snapshot as NAME afterwards\n"
               "     --boot                      run: boot the container's init\n"
               "     --rootless                  run: in a user namespace, without systemd-nspawn\n"
               "     --bind=SRC[:DST] --bind-ro=SRC[:DST] -E --setenv=NAME=VALUE --private-network\n"
               "     --network-veth --private-users[=...]\n"
               "                                 run: passed on to systemd-nspawn\n"
               "\n\"laminactl help COMMAND\" or \"laminactl COMMAND --help\" shows one command's help;\n"
               "see the laminactl(1) manual page for details.\n",
               program_invocation_short_name);
}

static const char *canonical_name(const char *name) {
        static const char *const aliases[][2] = {
                { "list", "ls" }, { "remove", "rm" }, { "unmount", "umount" },
        };

        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (streq(name, aliases[i][0]))
                        return aliases[i][1];
        return name;
}

int ctl_help_verb(const char *name) {
        const char *canonical = canonical_name(name);

        for (size_t i = 0; i < ELEMENTSOF(verb_help); i++)
                if (streq(verb_help[i].name, canonical)) {
                        printf("%s [OPTIONS...] %s\n\n%s\n\nGlobal options: see \"%s --help\"; details: laminactl(1).\n",
                               program_invocation_short_name, verb_help[i].synopsis, verb_help[i].text,
                               program_invocation_short_name);
                        return EXIT_SUCCESS;
                }
        return ctl_usage_error("unknown command \"%s\"", name);
}
