/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every error a caller can get is a documented name: kinds map to the API's names, an
 * internal errno never does (a missing data directory is not NotFound). */
#include "bus-error.h"
#include "test-util.h"

static void expect(int r, const Error *e, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(bus_error_from_core(&error, r, e) == r);
        if (strcmp(error.name, name) != 0) {
                fprintf(stderr, "got %s (%s), wanted %s\n", error.name, error.message, name);
                abort();
        }
        sd_bus_error_free(&error);
}

TEST(kinds_are_api_names) {
        Error e = ERROR_NULL;

        (void) error_setf(&e, ENOENT, "snapshot \"k\" does not exist");
        expect(-ENOENT, &e, BUS_ERROR_NOT_FOUND);
        e = ERROR_NULL;
        (void) error_setf(&e, EWRONGKIND, "snapshot \"k\" is committed");
        expect(-EWRONGKIND, &e, BUS_ERROR_FAILED_PRECONDITION);
        e = ERROR_NULL;
        (void) error_setf(&e, EUSERS, "too many");
        expect(-EUSERS, &e, SD_BUS_ERROR_LIMITS_EXCEEDED);
}

TEST(internal_errnos_are_never_kinds) {
        static const int failed[] = { ENOENT, EEXIST, EINVAL, EBUSY, EACCES, ENOTEMPTY, EIO, ELOOP, EAGAIN };
        Error e;

        for (size_t i = 0; i < ELEMENTSOF(failed); i++) {
                e = ERROR_NULL;
                (void) error_set_errno(&e, failed[i], "cannot open the data of snapshot \"k\"");
                ASSERT_TRUE(e.internal);
                expect(-failed[i], &e, SD_BUS_ERROR_FAILED);
                e = ERROR_NULL;
                (void) error_from_errno(&e, -failed[i], "cannot open the data of snapshot \"k\"");
                expect(-failed[i], &e, SD_BUS_ERROR_FAILED);
                expect(-failed[i], NULL, SD_BUS_ERROR_FAILED);
        }
}

TEST(full_disks_and_exhausted_resources_have_names) {
        Error e = ERROR_NULL;

        (void) error_set_errno(&e, ENOSPC, "cannot write snapshot \"k\"");
        expect(-ENOSPC, &e, BUS_ERROR_QUOTA_EXCEEDED);
        e = ERROR_NULL;
        (void) error_set_errno(&e, EDQUOT, "cannot write snapshot \"k\"");
        expect(-EDQUOT, &e, BUS_ERROR_QUOTA_EXCEEDED);
        e = ERROR_NULL;
        (void) error_set_errno(&e, EMFILE, "cannot open snapshot \"k\"");
        expect(-EMFILE, &e, SD_BUS_ERROR_LIMITS_EXCEEDED);
        expect(-ENOMEM, NULL, SD_BUS_ERROR_LIMITS_EXCEEDED);
        expect(-ENFILE, NULL, SD_BUS_ERROR_LIMITS_EXCEEDED);
}

TEST(unknown_kinds_are_failed) {
        Error e = ERROR_NULL;

        (void) error_setf(&e, ELOOP, "a kind nobody mapped");
        expect(-ELOOP, &e, SD_BUS_ERROR_FAILED);
}

TEST(ensure_keeps_set_errors_and_names_bare_ones) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(bus_error_ensure(&error, 1) == 1);
        ASSERT_TRUE(!sd_bus_error_is_set(&error));
        ASSERT_TRUE(bus_error_ensure(&error, -EBADMSG) == -EBADMSG);
        ASSERT_STREQ(error.name, SD_BUS_ERROR_FAILED);
        ASSERT_TRUE(bus_error_ensure(&error, -EINVAL) == -EINVAL);
        ASSERT_STREQ(error.name, SD_BUS_ERROR_FAILED); /* kept */
        sd_bus_error_free(&error);
}

TEST_MAIN(TEST_ENTRY(kinds_are_api_names), TEST_ENTRY(internal_errnos_are_never_kinds),
          TEST_ENTRY(full_disks_and_exhausted_resources_have_names), TEST_ENTRY(unknown_kinds_are_failed),
          TEST_ENTRY(ensure_keeps_set_errors_and_names_bare_ones))
