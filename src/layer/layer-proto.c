/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

static int queue_flush(LayerMsgQueue *q, struct iovec *more, size_t n_more) {
        struct iovec iov[4] = { { .iov_base = q->buf, .iov_len = q->len } };
        int r;

        assert(n_more < ELEMENTSOF(iov));
        for (size_t i = 0; i < n_more; i++)
                iov[1 + i] = more[i];
        r = send_iov(q->fd, iov, 1 + n_more);
        q->len = 0;
        return r;
}

static int queue_append(LayerMsgQueue *q, const void *p, size_t n) {
        if (q->len + n > LAYER_MSG_QUEUE_BYTES) {
                int r = queue_flush(q, NULL, 0);
                if (r < 0)
                        return r;
        }
        if (n > LAYER_MSG_QUEUE_BYTES) /* an entry with large xattrs */
                return send_iov(q->fd, &(struct iovec) { .iov_base = (void *) p, .iov_len = n }, 1);
        memcpy(q->buf + q->len, p, n);
        q->len += n;
        return 0;
}

int layer_msg_queue(LayerMsgQueue *q, const LayerMsgBuf *b) {
        return queue_append(q, b->data, b->size);
}

int layer_msg_queue_data(LayerMsgQueue *q, uint64_t offset, const void *data, size_t len) {
        LayerMsg h = { .type = LAYER_MSG_DATA, .size = (uint32_t) (sizeof offset + len) };
        struct iovec iov[] = {
                { .iov_base = &h, .iov_len = sizeof h },
                { .iov_base = &offset, .iov_len = sizeof offset },
                { .iov_base = (void *) data, .iov_len = len },
        };
        size_t n = sizeof h + sizeof offset + len;
        int r;

        assert(len <= LAYER_DATA_CHUNK);
        if (len > LAYER_MSG_COPY_MAX)
                return queue_flush(q, iov, ELEMENTSOF(iov));
        if (q->len + n > LAYER_MSG_QUEUE_BYTES) {
                r = queue_flush(q, NULL, 0);
                if (r < 0)
                        return r;
        }
        /* An empty chunk may come without a buffer, which memcpy() may not be given. */
        for (size_t i = 0; i < ELEMENTSOF(iov); i++)
                if (iov[i].iov_len > 0) {
                        memcpy(q->buf + q->len, iov[i].iov_base, iov[i].iov_len);
                        q->len += iov[i].iov_len;
                }
        return 0;
}

int layer_msg_queue_end(LayerMsgQueue *q) {
        LayerMsg h = { .type = LAYER_MSG_END };
        return queue_flush(q, &(struct iovec) { .iov_base = &h, .iov_len = sizeof h }, 1);
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

/* Makes n bytes available at r->buf + r->pos: 1, or 0 on EOF before the first of them,
 * -EPIPE on EOF after it. */
static int reader_want(LayerMsgReader *r, size_t n) {
        assert(n <= LAYER_MSG_RECV_BYTES);

        while (r->len - r->pos < n) {
                ssize_t k;

                if (r->pos + n > LAYER_MSG_RECV_BYTES) {
                        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                        r->len -= r->pos;
                        r->pos = 0;
                }
                k = read(r->fd, r->buf + r->len, LAYER_MSG_RECV_BYTES - r->len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return r->len == r->pos ? 0 : -EPIPE;
                r->len += (size_t) k;
        }
        return 1;
}

int layer_msg_reader_next(LayerMsgReader *r, LayerMsg *ret_hdr, const uint8_t **ret_payload) {
        int k;

        k = reader_want(r, sizeof *ret_hdr);
        if (k <= 0)
                return k;
        memcpy(ret_hdr, r->buf + r->pos, sizeof *ret_hdr);
        if (ret_hdr->size > LAYER_MSG_MAX)
                return -EBADMSG;
        k = reader_want(r, sizeof *ret_hdr + ret_hdr->size);
        if (k < 0)
                return k;
        *ret_payload = r->buf + r->pos + sizeof *ret_hdr;
        r->pos += sizeof *ret_hdr + ret_hdr->size;
        if (r->pos == r->len)
                r->pos = r->len = 0;
        return 1;
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

/* One system call for the whole record (a directory's times for each directory). */
static int report(int fd, LayerMsgType type, const void *head, size_t head_len, const char *s) {
        LayerMsg h = { .type = type, .size = (uint32_t) (head_len + strlen(s) + 1) };
        struct iovec iov[] = {
                { .iov_base = &h, .iov_len = sizeof h },
                { .iov_base = (void *) head, .iov_len = head_len },
                { .iov_base = (void *) s, .iov_len = strlen(s) + 1 },
        };
        struct iovec *v = iov;
        size_t n = ELEMENTSOF(iov);

        while (n > 0) {
                ssize_t k = writev(fd, v, (int) n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                while (n > 0 && (size_t) k >= v->iov_len) {
                        k -= (ssize_t) v->iov_len;
                        v++;
                        n--;
                }
                if (n > 0) {
                        v->iov_base = (char *) v->iov_base + k;
                        v->iov_len -= (size_t) k;
                }
        }
        return 0;
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
