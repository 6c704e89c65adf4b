/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "fair-share.h"

size_t fair_share_per_user(size_t max, size_t cap) {
        size_t share = max / 4;

        if (share > cap)
                share = cap;
        return share < 1 ? 1 : share;
}

int fair_share_admit(size_t mine, size_t taken, size_t max, size_t cap) {
        if (mine >= fair_share_per_user(max, cap))
                return -EUSERS;
        if (taken >= max || (mine > 0 && taken >= max - max / 4))
                return -EBUSY;
        return 0;
}
