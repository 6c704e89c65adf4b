/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The commands of lamina-bench (its table is in lamina-bench.c). Each gets argv[0] = its
 * name and as many arguments as the table says; returns 0 or a negative errno, logged. */

/* bench-pcr.c: Prepare + Commit + Remove over the bus and in-process, Peer.Ping. */
int cmd_pcr_bus(int argc, char **argv);
int cmd_pcr_core(int argc, char **argv);
int cmd_pcr_interleaved(int argc, char **argv);
int cmd_ping_bus(int argc, char **argv);

/* bench-mount.c: chains and their mounts, Apply. */
int cmd_chain_bus(int argc, char **argv);
int cmd_prepare_mount_bus(int argc, char **argv);
int cmd_apply_bus(int argc, char **argv);

/* bench-many.c: many snapshots (List, Stat), activation. */
int cmd_populate(int argc, char **argv);
int cmd_list_bus(int argc, char **argv);
int cmd_stat_bus(int argc, char **argv);
int cmd_activate_bus(int argc, char **argv);
