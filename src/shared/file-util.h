/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);
