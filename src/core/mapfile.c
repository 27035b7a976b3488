/*
 * mapfile.c - read-only mapping of a whole file (see mapfile.h).
 *
 * The descriptor is closed as soon as the mapping exists: the mapping
 * keeps the file alive on its own. A zero-length file gets a pointer to a
 * static byte instead of a mapping, so close tells the two apart by len
 * alone.
 */
#include "core/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char empty_file[1];

int vt_mapfile_open(const char *path, struct vt_mapfile *map, struct vt_error *err)
{
    map->data = NULL;
    map->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vt_error_set(err, VT_EIO, "", "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        map->data = empty_file;
        return 0;
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return vt_error_set(err, VT_ETOOBIG, "", "%s: %lld bytes do not fit in memory", path,
                            (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return vt_error_set(err, VT_EIO, "", "%s: cannot map: %s", path, strerror(e));
    map->data = p;
    map->len = len;
    return 0;
}

void vt_mapfile_close(struct vt_mapfile *map)
{
    if (!map)
        return;
    if (map->len)
        munmap((void *)map->data, map->len);
    map->data = NULL;
    map->len = 0;
}
