/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-check DIR [MIN_SNAPSHOTS]: opens the metadata in DIR (laminad must not run) and
 * checks it with store_verify(); exits 0 when it is consistent and holds at least
 * MIN_SNAPSHOTS snapshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int main(int argc, char **argv) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(store_read_endp) StoreTxn *t = NULL;
        _cleanup_free_ uint64_t *ids = NULL;
        Error e = ERROR_NULL;
        size_t n = 0;
        int r;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s DIR [MIN_SNAPSHOTS]\n", argv[0]);
                return 2;
        }
        r = store_open(argv[1], NULL, &s);
        if (r < 0) {
                fprintf(stderr, "cannot open the metadata in %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        r = store_read_begin(s, &t);
        if (r >= 0)
                r = store_verify(t, &e);
        if (r >= 0)
                r = store_list_ids(t, &ids, &n);
        if (r < 0) {
                fprintf(stderr, "metadata in %s: %s\n", argv[1], e.code ? e.message : strerror(-r));
                return 1;
        }
        if (argc == 3 && n < strtoul(argv[2], NULL, 10)) {
                fprintf(stderr, "metadata in %s: %zu snapshots, expected at least %s\n", argv[1], n, argv[2]);
                return 1;
        }
        printf("metadata in %s: consistent, %zu snapshots\n", argv[1], n);
        return 0;
}
