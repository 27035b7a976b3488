/* datafile.c - whole-file reads with a cap, and a line iterator. */
#include "text/datafile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

int vt_datafile_read(const char *path, size_t max, char **data, size_t *len,
                     struct vt_error *err)
{
    FILE *f = NULL;
    char *buf = NULL;
    int rc;
    struct stat st;

    *data = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        rc = vt_error_set(err, VT_EIO, "path", "%s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
        rc = vt_error_set(err, VT_ETOOBIG, "path", "%s: %lld bytes, over the limit of %zu",
                          path, (long long)st.st_size, max);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = vt_malloc(size + 1);
    if (!buf) {
        rc = vt_error_set(err, VT_ENOMEM, "path", "%s: out of memory", path);
        goto out;
    }
    if (size && fread(buf, 1, size, f) != size) {
        rc = vt_error_set(err, VT_EIO, "path", "%s: short read", path);
        goto out;
    }
    buf[size] = '\0';
    *data = buf;
    *len = size;
    buf = NULL;
    rc = 0;
out:
    if (f)
        fclose(f);
    vt_free(buf);
    return rc;
}

void vt_lines_init(struct vt_lines *it, const char *data, size_t len)
{
    it->p = data;
    it->end = data + len;
    it->line = 0;
}

int vt_lines_next(struct vt_lines *it, const char **s, size_t *n)
{
    if (it->p >= it->end)
        return 0;
    const char *start = it->p;
    const char *nl = memchr(start, '\n', (size_t)(it->end - start));
    const char *stop = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    if (stop > start && stop[-1] == '\r')
        stop--;
    it->line++;
    *s = start;
    *n = (size_t)(stop - start);
    return 1;
}
