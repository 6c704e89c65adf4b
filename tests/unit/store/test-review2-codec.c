/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A damaged or cut record fails to decode with EBADMSG, never reads past its bytes (each is
 * decoded from a buffer of exactly its size, for ASan) and never says "out of memory" (a NUL
 * inside a label was reported as ENOMEM); a name with a NUL inside is damage too. */
#include "store-internal.h"
#include "test-util.h"

/* A record of snapshot 7 named "name", two labels. */
static void encode_sample(Buf *b) {
        Labels l = LABELS_NULL;
        Record rec = {
                .owner = 1000, .kind = SNAPSHOT_COMMITTED, .parent_id = 3, .created_usec = 1, .updated_usec = 2,
                .size = 4096, .inodes = 1, .name = "name", .name_len = 4,
        };

        ASSERT_OK(labels_set(&l, "key", "value"));
        ASSERT_OK(labels_set(&l, "k2", "v2"));
        ASSERT_OK(record_encode(&rec, &l, b));
        labels_clear(&l);
}

/* Decodes bytes [0, n) of data from a copy of exactly n bytes: 0, or the error of the record
 * or else of its labels. */
static int decode_copy(const uint8_t *data, size_t n) {
        _cleanup_free_ uint8_t *copy = malloc(n ?: 1);
        MDB_val v = { .mv_size = n, .mv_data = copy };
        Labels l = LABELS_NULL;
        Record rec;
        int r;

        ASSERT_TRUE(copy);
        memcpy(copy, data, n);
        r = record_decode(7, &v, &rec);
        if (r < 0)
                return r;
        ASSERT_TRUE(rec.name >= (const char *) copy && rec.name + rec.name_len <= (const char *) copy + n);
        ASSERT_TRUE(!memchr(rec.name, 0, rec.name_len)); /* a NUL in it is damage */
        r = labels_decode(&rec, &l);
        labels_clear(&l);
        return r;
}

TEST(round_trip) {
        _cleanup_(buf_done) Buf b = {};

        encode_sample(&b);
        ASSERT_OK(decode_copy(b.data, b.n));
}

TEST(every_cut_fails) {
        _cleanup_(buf_done) Buf b = {};

        encode_sample(&b);
        for (size_t n = 0; n < b.n; n++)
                ASSERT_ERR(decode_copy(b.data, n), EBADMSG);
}

/* Every byte set to values that break lengths, counts, kinds and strings: the decode succeeds
 * or says the record is damaged. */
TEST(every_byte_mutated) {
        static const uint8_t values[] = { 0x00, 0x01, 0x1f, 0x7f, 0x80, 0xc0, 0xfe, 0xff };
        _cleanup_(buf_done) Buf b = {};

        encode_sample(&b);
        for (size_t i = 0; i < b.n; i++)
                for (size_t j = 0; j < ELEMENTSOF(values); j++) {
                        uint8_t saved = b.data[i];
                        int r;

                        b.data[i] = values[j];
                        r = decode_copy(b.data, b.n);
                        b.data[i] = saved;
                        if (r < 0 && r != -EBADMSG) {
                                fprintf(stderr, "byte %zu set to 0x%02x: %s, not EBADMSG\n", i, values[j],
                                        strerror(-r));
                                ASSERT_ERR(r, EBADMSG);
                        }
                }
}

/* A label count or string length of up to 2^32 - 1 in a short record: no allocation or read
 * in proportion to it. */
TEST(huge_counts) {
        _cleanup_(buf_done) Buf b = {};

        buf_put_u8(&b, RECORD_VERSION);
        buf_put_u8(&b, SNAPSHOT_ACTIVE);
        buf_put_u32(&b, 0);
        for (int i = 0; i < 5; i++)
                buf_put_u64(&b, 0);
        buf_put_str(&b, "n", 1);
        buf_put_u32(&b, UINT32_MAX); /* labels */
        buf_put_u32(&b, UINT32_MAX); /* the first key's length */
        ASSERT_TRUE(!b.oom);
        ASSERT_ERR(decode_copy(b.data, b.n), EBADMSG);
}

TEST_MAIN(TEST_ENTRY(round_trip), TEST_ENTRY(every_cut_fails), TEST_ENTRY(every_byte_mutated),
          TEST_ENTRY(huge_counts))
