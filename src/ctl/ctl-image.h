/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Where an image's files come from: a directory (an OCI image layout, or an unpacked
 * `docker save`), or a tar archive of one (`docker save` output, or an OCI layout packed with
 * tar; compressed or not). Paths are relative to the image's top ("index.json",
 * "blobs/sha256/…"); in an archive, links between members are followed. */
typedef struct ImageSource ImageSource;

/* Opens path, a directory or a file ("-": standard input); an archive is read once, into an
 * index of its members (ctl-archive-index.h). Prints why not on failure. */
int image_source_open(const char *path, ImageSource **ret);
ImageSource *image_source_free(ImageSource *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageSource *, image_source_free);

/* The path as given, for messages. */
const char *image_source_name(const ImageSource *s);

/* Reads a file of at most max bytes whole (NUL-terminated). -ENOENT, unprinted, when the image
 * has no such file; other failures are printed. */
int image_source_read(ImageSource *s, const char *path, size_t max, char **ret, size_t *ret_len);

/* An fd to read a (large) file from, and the file's size. For an archive it is a pipe that a
 * thread fills (*ret the stream, else NULL); several may be open at once; call
 * image_stream_end() once the fd is closed (and before the source is freed). -ENOENT
 * unprinted, like image_source_read(). */
typedef struct ImageStream ImageStream;
int image_source_stream(ImageSource *s, const char *path, ImageStream **ret, int *ret_fd, uint64_t *ret_size);
/* Waits for the thread filling the stream and frees it (NULL: nothing); prints and returns
 * its error, if it had one other than the reader going away. */
int image_stream_end(ImageStream *st);
