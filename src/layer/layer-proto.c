/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "layer-fs.h"
#include "layer-proto.h"
#include "macro.h"

void layer_msg_buf_done(LayerMsgBuf *b) {
        free(b->data);
        *b = (LayerMsgBuf) {};
}

static int buf_append(LayerMsgBuf *b, const void *p, size_t n) {
        if (b->size + n > b->allocated) {
                size_t a = (b->size + n) * 2;
                uint8_t *d = realloc(b->data, a);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        return 0;
}

static LayerMsg *buf_header(LayerMsgBuf *b) {
        return (LayerMsg *) b->data;
}

static LayerEntryMsg *buf_entry(LayerMsgBuf *b) {
        return (LayerEntryMsg *) (b->data + sizeof(LayerMsg));
}

int layer_msg_pack_entry(LayerMsgBuf *b, const LayerEntryMsg *m, const char *path, const char *link) {
        LayerMsg h = { .type = LAYER_MSG_ENTRY };
        LayerEntryMsg e = *m;
        int r;

        e.path_len = (uint32_t) strlen(path);
        e.link_len = (uint32_t) strlen(link);
        e.xattrs_len = 0;
        b->size = 0;
        r = buf_append(b, &h, sizeof h);
        if (r >= 0)
                r = buf_append(b, &e, sizeof e);
        if (r >= 0)
                r = buf_append(b, path, e.path_len + 1);
        if (r >= 0)
                r = buf_append(b, link, e.link_len + 1);
        if (r < 0)
                return r;
        buf_header(b)->size = (uint32_t) (b->size - sizeof h);
        return 0;
}

int layer_msg_add_xattr(LayerMsgBuf *b, const char *name, const void *value, size_t len) {
        uint32_t l = (uint32_t) len;
        size_t add = strlen(name) + 1 + sizeof l + len;
        int r;

        if (buf_entry(b)->xattrs_len + add > LAYER_XATTRS_MAX)
                return -E2BIG;
        r = buf_append(b, name, strlen(name) + 1);
        if (r >= 0)
                r = buf_append(b, &l, sizeof l);
        if (r >= 0)
                r = buf_append(b, value, len);
        if (r < 0)
                return r;
        buf_entry(b)->xattrs_len += (uint32_t) add;
        buf_header(b)->size = (uint32_t) (b->size - sizeof(LayerMsg));
        return 0;
}

static int send_iov(int fd, struct iovec *iov, size_t n) {
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };

        while (mh.msg_iovlen > 0) {
                ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                while (mh.msg_iovlen > 0 && (size_t) k >= mh.msg_iov->iov_len) {
                        k -= (ssize_t) mh.msg_iov->iov_len;
                        mh.msg_iov++;
                        mh.msg_iovlen--;
                }
                if (mh.msg_iovlen > 0) {
                        mh.msg_iov->iov_base = (char *) mh.msg_iov->iov_base + k;
                        mh.msg_iov->iov_len -= (size_t) k;
                }
        }
        return 0;
}

int layer_msg_send(int fd, const LayerMsgBuf *b) {
        struct iovec iov = { .iov_base = b->data, .iov_len = b->size };
        return send_iov(fd, &iov, 1);
}

int layer_msg_send_data(int fd, uint64_t offset, const void *data, size_t len) {
        LayerMsg h = { .type = LAYER_MSG_DATA, .size = (uint32_t) (sizeof offset + len) };
        struct iovec iov[] = {
                { .iov_base = &h, .iov_len = sizeof h },
                { .iov_base = &offset, .iov_len = sizeof offset },
                { .iov_base = (void *) data, .iov_len = len },
        };

        assert(len <= LAYER_DATA_CHUNK);
        return send_iov(fd, iov, ELEMENTSOF(iov));
}

int layer_msg_send_end(int fd) {
        LayerMsg h = { .type = LAYER_MSG_END };
        struct iovec iov = { .iov_base = &h, .iov_len = sizeof h };
        return send_iov(fd, &iov, 1);
}

int layer_msg_recv(int fd, LayerMsg *ret_hdr, uint8_t *buf) {
        int r;

        r = layer_read_full(fd, ret_hdr, sizeof *ret_hdr);
        if (r <= 0)
                return r;
        if (ret_hdr->size > LAYER_MSG_MAX)
                return -EBADMSG;
        r = layer_read_full(fd, buf, ret_hdr->size);
        if (r < 0)
                return r;
        return ret_hdr->size == 0 || r > 0 ? 1 : -EPIPE;
}

int layer_entry_view(const uint8_t *buf, size_t size, LayerEntryView *ret) {
        const LayerEntryMsg *m = (const LayerEntryMsg *) buf;
        size_t need;

        if (size < sizeof *m)
                return -EBADMSG;
        need = sizeof *m + (size_t) m->path_len + 1 + (size_t) m->link_len + 1 + m->xattrs_len;
        if (need != size)
                return -EBADMSG;
        *ret = (LayerEntryView) {
                .msg = m,
                .path = (const char *) buf + sizeof *m,
                .link = (const char *) buf + sizeof *m + m->path_len + 1,
        };
        if (ret->path[m->path_len] != 0 || ret->link[m->link_len] != 0 ||
            strlen(ret->path) != m->path_len || strlen(ret->link) != m->link_len)
                return -EBADMSG;
        ret->xattrs = (const uint8_t *) ret->link + m->link_len + 1;
        ret->xattrs_end = buf + size;
        return 0;
}

int layer_xattr_next(const uint8_t **p, const uint8_t *end, const char **ret_name,
                     const void **ret_value, uint32_t *ret_len) {
        const uint8_t *nul;
        uint32_t len;

        if (*p == end)
                return 0;
        nul = memchr(*p, 0, (size_t) (end - *p));
        if (!nul || (size_t) (end - nul - 1) < sizeof len)
                return -EBADMSG;
        memcpy(&len, nul + 1, sizeof len);
        if ((size_t) (end - nul - 1 - sizeof len) < len)
                return -EBADMSG;
        *ret_name = (const char *) *p;
        *ret_value = nul + 1 + sizeof len;
        *ret_len = len;
        *p = nul + 1 + sizeof len + len;
        return 1;
}

static int report(int fd, LayerMsgType type, const void *head, size_t head_len, const char *s) {
        LayerMsg h = { .type = type, .size = (uint32_t) (head_len + strlen(s) + 1) };
        int r;

        r = layer_write_full(fd, &h, sizeof h);
        if (r >= 0)
                r = layer_write_full(fd, head, head_len);
        if (r >= 0)
                r = layer_write_full(fd, s, strlen(s) + 1);
        return r;
}

int layer_report_error(int fd, int code, const char *message) {
        int32_t c = code < 0 ? -code : code;
        return report(fd, LAYER_REPORT_ERROR, &c, sizeof c, message);
}

int layer_report_error_of(int fd, const Error *e) {
        int32_t c = e->internal ? -e->code : e->code;
        return report(fd, LAYER_REPORT_ERROR, &c, sizeof c, e->message);
}

int layer_error_from_report(Error *e, int32_t code, const char *message) {
        int c = code <= -4096 || code >= 4096 ? EIO : abs(code);
        int r;

        if (c == 0)
                c = EIO;
        r = error_setf(e, c, "%s", message);
        if (e && e->code == c && code < 0)
                e->internal = true;
        return r;
}

int layer_error_from_child(Error *e, int32_t code, const char *message) {
        if (code == EINVAL || code == EDQUOT)
                return layer_error_from_report(e, code, message);
        return layer_error_from_report(e, code < 0 ? code : code > 0 ? -code : -EIO, message);
}

int layer_report_dir_times(int fd, const char *path, const LayerDirTimes *t) {
        return report(fd, LAYER_REPORT_DIR_TIMES, t, sizeof *t, path);
}

int layer_report_path(int fd, LayerMsgType type, const char *path) {
        assert(type == LAYER_PARSE_WHITEOUT || type == LAYER_PARSE_OPAQUE || type == LAYER_REPORT_IMPLICIT_DIR);
        return report(fd, type, NULL, 0, path);
}

int layer_report_progress(int fd, const LayerParseProgress *p) {
        return report(fd, LAYER_PARSE_PROGRESS, p, sizeof *p, "");
}

int layer_request_mknod(int fd, const LayerMknodRequest *q, const char *path) {
        int32_t code;
        int r;

        r = report(fd, LAYER_REQUEST_MKNOD, q, sizeof *q, path);
        if (r < 0)
                return r;
        r = layer_read_full(fd, &code, sizeof code);
        if (r <= 0)
                return r < 0 ? r : -EPIPE;
        return code <= 0 || code >= 4096 ? (code == 0 ? 0 : -EIO) : -code;
}

int layer_report_result(int fd, const LayerParseResult *r) {
        return report(fd, LAYER_PARSE_RESULT, r, sizeof *r, "");
}
