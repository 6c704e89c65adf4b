/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* laminactl --help: every command and option. */
void ctl_help(void);
/* laminactl help COMMAND, laminactl COMMAND --help: one command's synopsis and what it does;
 * EXIT_USAGE for an unknown command. */
int ctl_help_verb(const char *name);
