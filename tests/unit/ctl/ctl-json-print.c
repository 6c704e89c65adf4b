/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prints laminactl's JSON for the strings given as arguments, through the same builders the
 * commands use: ctl-json-print short|pretty stream|tree STRING...
 * Each STRING becomes {"name": S, "parent": null, "labels": {S: S}, "owner": 18446744073709551615,
 * "default": true, "options": [S, S]}; "stream" prints the array one element at a time (as
 * `laminactl ls` does), "tree" as one json-c array. test-ctl-json.py checks the output. */
#include "ctl-output.h"
#include "ctl.h"

/* laminactl.c's globals that the linked parts of libctl read */
const char *arg_snapshotter = NULL;
uid_t arg_user = 0;
bool arg_have_user = false;
JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_pager = false;

static json_object *item(char *s) {
        json_object *o = json_object_new_object();

        json_add_string(&o, "name", s);
        json_add_string(&o, "parent", NULL);
        json_add(&o, "labels", json_labels((const char *[]) { s, s, NULL }));
        json_add_uint(&o, "owner", UINT64_MAX);
        json_add_bool(&o, "default", true);
        json_add(&o, "options", json_strv((char *[]) { s, s, NULL }));
        return o;
}

int main(int argc, char **argv) {
        json_object *all;
        JsonStream out;

        if (argc < 3 || (!streq(argv[1], "short") && !streq(argv[1], "pretty")) ||
            (!streq(argv[2], "stream") && !streq(argv[2], "tree"))) {
                fprintf(stderr, "usage: ctl-json-print short|pretty stream|tree STRING...\n");
                return EXIT_FAILURE;
        }
        arg_json = streq(argv[1], "short") ? JSON_SHORT : JSON_PRETTY;

        if (streq(argv[2], "tree")) {
                all = json_object_new_array();
                for (int i = 3; i < argc; i++)
                        json_append(&all, item(argv[i]));
                return json_print(all, arg_json) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        json_stream_begin(&out);
        for (int i = 3; i < argc; i++)
                if (json_stream_add(&out, item(argv[i])) < 0)
                        return EXIT_FAILURE;
        json_stream_end(&out);
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
