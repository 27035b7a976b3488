/*
 * sh3d.c - the Sweet Home 3D furniture catalogs as a demo shop (sh3d.h).
 *
 * One folder per catalog (an unzipped .sh3f), as Sweet Home 3D lays it out:
 *   PluginFurnitureCatalog.properties        catalog keys: id, name, license,
 *                                            provider; then per piece key#N
 *   PluginFurnitureCatalog_zh_CN.properties  name#N, category#N, tags#N in
 *                                            simplified Chinese (optional)
 *   /<dir>/<piece>/<piece>.obj, .mtl, textures; /<dir>/<piece>.png (icon)
 * Piece keys used: id, name, category, tags (comma-separated), creator,
 * width, depth, height (cm), model (path from the catalog folder), optional
 * modelRotation (9 numbers, row-major), icon, doorOrWindow, movable,
 * elevation. Pieces are numbered 1, 2, ... and the list ends at the first N
 * without name#N, as in Sweet Home 3D.
 *
 * A zh_CN entry that holds no Chinese character is the English text copied
 * over by the translators, not a translation: it is left out.
 *
 * Work order: read the catalogs, list the pieces (taking them in turn from
 * each catalog, so a --limit sample covers them all), give each a stable
 * item id, convert the models on a few threads (glb.h; GLBs that are
 * already there are read back and checked instead), then build the items
 * in the main thread and upsert them in batches. Only the conversion runs
 * on several threads; each worker writes to its own pieces only.
 */
#include "ar/sh3d.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ar/glb.h"
#include "ar/props.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/progress.h"
#include "core/util.h"
#include "store/record.h"

#define CATALOG_FILE "PluginFurnitureCatalog.properties"
#define CATALOG_ZH_FILE "PluginFurnitureCatalog_zh_CN.properties"
#define BATCH 100
#define MAX_THREADS 4
#define MAX_TEXT 1024       /* bytes kept of a name, category or creator */
#define MAX_TAG 256
#define MAX_ICON (16 << 20) /* bytes copied from an icon file */

struct catalog {
    char *dir;            /* full path of the folder */
    const char *folder;   /* its last component (points into dir) */
    struct vt_props *en, *zh;
    const char *name;     /* catalog display name ("Blend Swap CC-0") */
    const char *license;  /* licence text as the catalog states it */
    const char *spdx, *license_url, *license_short;
};

enum model_state { MODEL_NONE, MODEL_OK, MODEL_REUSED, MODEL_FAILED };

struct piece {
    struct catalog *cat;
    int n;                      /* N in key#N */
    char id[VT_ID_MAX + 1];     /* item id */
    const char *src_id;         /* the catalog's id#N, or NULL */
    double dims_cm[3];          /* w, d, h */
    int has_dims;
    char *obj_path, *glb_path, *icon_path, *poster_path;
    struct vt_glb_options glb;
    enum model_state state;
    int has_poster;
    struct vt_glb_result res;
    char why[sizeof ((struct vt_error *)0)->message];  /* no model: the reason */
};

/* ---- small helpers -------------------------------------------------- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* FNV-1a spreads its entropy poorly into the low bits: finish it with
 * the splitmix64 mixer before taking remainders or top bits. */
static uint64_t id_hash(const char *s)
{
    uint64_t z = fnv1a64(s);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static char *path_join(const char *a, const char *b)
{
    struct vt_buf p;
    vt_buf_init(&p, 0);
    while (*b == '/')
        b++;
    if (vt_buf_printf(&p, "%s%s%s", a, a[0] && a[strlen(a) - 1] == '/' ? "" : "/", b)) {
        vt_buf_reset(&p);
        return NULL;
    }
    return vt_buf_steal(&p, NULL);
}

static int mkdir_p(const char *path)
{
    char *p = vt_strdup(path);
    if (!p)
        return VT_ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                rc = VT_EIO;
            *q = c;
            if (rc || !c)
                break;
        }
    }
    vt_free(p);
    struct stat st;
    if (!rc && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = VT_EIO;
    return rc;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* s without leading and trailing blanks, as a JSON string of at most max
 * bytes cut at a character boundary; NULL when empty. */
static json_t *jtext(const char *s, size_t max)
{
    if (!s)
        return NULL;
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return n ? json_stringn(s, n) : NULL;
}

static int has_cjk(const char *s) { return s && vt_utf8_has_cjk(s, strlen(s)); }

static const char *pget(const struct vt_props *p, const char *key, int n)
{
    char k[64];
    snprintf(k, sizeof k, "%s#%d", key, n);
    return vt_props_get(p, k);
}

static int parse_number(const char *s, double *out)
{
    if (!s)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == s || *end || errno == ERANGE || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* "a b c ..." -> 9 numbers */
static int parse_rotation(const char *s, double *m)
{
    char *end;
    for (int k = 0; k < 9; k++) {
        errno = 0;
        m[k] = strtod(s, &end);
        if (end == s || errno == ERANGE || !isfinite(m[k]))
            return -1;
        s = end;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    return *s ? -1 : 0;
}

/* A model or icon path from the catalog: inside the folder, no "..". */
static int safe_rel_path(const char *p)
{
    if (!p || !*p || strstr(p, "://") || strncmp(p, "jar:", 4) == 0)
        return 0;
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += n;
    }
    return 1;
}

/* ---- licences ------------------------------------------------------- */

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* The catalogs state their licence in words: "Public domain",
 * "Creative Commons Attribution 3.0 [United States|Unported] license ...". */
static void licence_of(struct catalog *c)
{
    const char *t = c->license ? c->license : "";
    if (contains_ci(t, "public domain") || contains_ci(t, "CC0") || contains_ci(t, "CC-0") ||
        contains_ci(c->folder, "CC-0")) {
        c->spdx = "CC0-1.0";
        c->license_url = "https://creativecommons.org/publicdomain/zero/1.0/";
        c->license_short = "CC0 1.0";
    } else if (contains_ci(t, "Attribution 3.0") && contains_ci(t, "United States")) {
        c->spdx = "CC-BY-3.0-US";
        c->license_url = "https://creativecommons.org/licenses/by/3.0/us/";
        c->license_short = "CC BY 3.0 US";
    } else if (contains_ci(t, "Attribution 3.0") || contains_ci(c->folder, "CC-BY")) {
        c->spdx = "CC-BY-3.0";
        c->license_url = "https://creativecommons.org/licenses/by/3.0/";
        c->license_short = "CC BY 3.0";
    } else {
        c->spdx = "LicenseRef-unknown";
        c->license_url = NULL;
        c->license_short = *t ? t : "licence not stated";
    }
}

/* ---- demo prices ---------------------------------------------------- */

/*
 * The catalogs have no prices, so the demo shop makes them up, the same
 * way every time (they are marked "demo_price": true in the attributes):
 *
 *   price = base(category) * (0.6 + 0.9 u) * size
 *     base  the table below, in CNY (999 for a category not in it)
 *     u     in [0, 1): the top 24 bits of a 64-bit hash of the item id
 *           (FNV-1a, then the splitmix64 finaliser)
 *     size  cube root of (w d h / 0.125 m^3), clamped to [0.5, 2]: a 50 cm
 *           cube is 1, so larger pieces of a category cost more
 *   then rounded down to whole yuan ending in 9 (349) below 1000, in 99
 *   (2499) from 1000 on; never below 9.
 *
 * Stock is made up from the same hash: 1 in 10 pieces is out of stock (0),
 * the others have 1 to 60.
 */
static const struct {
    const char *category;
    double base;
} price_base[] = {
    {"Living room", 2999}, {"Bedroom", 2599},  {"Kitchen", 1899},    {"Bathroom", 1299},
    {"Office", 1499},      {"Lights", 459},    {"Doors and windows", 1999},
    {"Exterior", 1299},    {"Miscellaneous", 299}, {"Characters", 899},
    {"Vehicles", 4999},    {"Staircases", 6999},
};

static double demo_price(const char *id, const char *category, const double *dims_cm, int has_dims)
{
    double base = 999;
    for (size_t i = 0; category && i < sizeof price_base / sizeof price_base[0]; i++)
        if (strcasecmp(category, price_base[i].category) == 0)
            base = price_base[i].base;
    double u = (double)(id_hash(id) >> 40) / (double)(1u << 24);
    double size = 1;
    if (has_dims) {
        size = cbrt(dims_cm[0] * dims_cm[1] * dims_cm[2] / 1e6 / 0.125);
        size = size < 0.5 ? 0.5 : size > 2 ? 2 : size;
    }
    double p = base * (0.6 + 0.9 * u) * size;
    p = p < 1000 ? floor(p / 10) * 10 + 9 : floor(p / 100) * 100 + 99;
    return p < 9 ? 9 : p;
}

static int64_t demo_stock(const char *id)
{
    uint32_t h = (uint32_t)id_hash(id);
    return h % 10 == 0 ? 0 : 1 + (int64_t)((h >> 8) % 60);
}

/* ---- ids ------------------------------------------------------------ */

/* "Blend Swap CC-0#armchair" -> "blend-swap-cc-0-armchair": ASCII letters
 * and digits lowered, every other run of bytes one '-'. Too long: cut and
 * end with 8 hex digits of the hash so that it stays unique. */
static void slugify(const char *src, char *out)
{
    size_t n = 0;
    int dash = 0;
    for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
        if (isalnum(*s) && *s < 0x80) {
            if (dash && n > 0 && n < VT_ID_MAX)
                out[n++] = '-';
            dash = 0;
            if (n < VT_ID_MAX)
                out[n++] = (char)tolower(*s);
        } else {
            dash = 1;
        }
    }
    out[n] = '\0';
    uint32_t h = (uint32_t)fnv1a64(src);
    if (n == 0)
        snprintf(out, VT_ID_MAX + 1, "piece-%08x", h);
    else if (n >= VT_ID_MAX || strlen(src) > 4 * VT_ID_MAX)
        snprintf(out + (n > VT_ID_MAX - 9 ? VT_ID_MAX - 9 : n), 10, "-%08x", h);
}

static int cmp_piece_id(const void *a, const void *b)
{
    const struct piece *x = *(struct piece *const *)a, *y = *(struct piece *const *)b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    c = strcmp(x->cat->folder, y->cat->folder);
    return c ? c : x->n - y->n;
}

/* Two catalog ids that slug alike: the later ones get a hash suffix. */
static int make_ids_unique(struct piece *pc, size_t n)
{
    struct piece **v = n ? vt_calloc(n, sizeof *v) : NULL;
    if (n && !v)
        return VT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = &pc[i];
    qsort(v, n, sizeof *v, cmp_piece_id);
    char group[VT_ID_MAX + 1] = ""; /* the id before renaming, of the run */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->id, group) != 0) {
            memcpy(group, v[i]->id, sizeof group);
            continue;
        }
        char key[512];
        snprintf(key, sizeof key, "%s#%d", v[i]->cat->folder, v[i]->n);
        size_t len = strlen(v[i]->id);
        if (len > VT_ID_MAX - 9)
            len = VT_ID_MAX - 9;
        snprintf(v[i]->id + len, 10, "-%08x", (uint32_t)fnv1a64(key));
    }
    vt_free(v);
    return 0;
}

/* ---- catalogs ------------------------------------------------------- */

static void catalogs_free(struct catalog *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        vt_free(c[i].dir);
        vt_props_free(c[i].en);
        vt_props_free(c[i].zh);
    }
    vt_free(c);
}

static int cmp_catalog(const void *a, const void *b)
{
    return strcmp(((const struct catalog *)a)->folder, ((const struct catalog *)b)->folder);
}

static int catalogs_load(const char *src_dir, FILE *report, struct catalog **out, size_t *nout,
                         struct vt_error *err)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(src_dir);
    if (!d)
        return vt_error_set(err, errno == ENOENT ? VT_ENOTFOUND : VT_EIO, "", "%s: %s", src_dir,
                            strerror(errno));
    struct catalog *cs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *dir = path_join(src_dir, e->d_name), *file = dir ? path_join(dir, CATALOG_FILE) : NULL;
        if (!file) {
            vt_free(dir);
            rc = VT_ENOMEM;
            break;
        }
        int is_catalog = file_exists(file);
        vt_free(file);
        if (!is_catalog) {
            vt_free(dir);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct catalog *nc = vt_realloc(cs, ncap * sizeof *nc);
            if (!nc) {
                vt_free(dir);
                rc = VT_ENOMEM;
                break;
            }
            cs = nc;
            cap = ncap;
        }
        memset(&cs[n], 0, sizeof cs[n]);
        cs[n].dir = dir;
        cs[n].folder = dir + strlen(dir) - strlen(e->d_name);
        n++;
    }
    closedir(d);
    if (rc) {
        catalogs_free(cs, n);
        return vt_error_set(err, rc, "", "out of memory");
    }
    if (n == 0) {
        vt_free(cs);
        return vt_error_set(err, VT_ENOTFOUND, "",
                            "%s holds no furniture catalog (folders with %s); "
                            "scripts/fetch-demo extracts them",
                            src_dir, CATALOG_FILE);
    }
    qsort(cs, n, sizeof *cs, cmp_catalog);
    /* read them; one that does not parse is reported and left out */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct catalog c = cs[i];
        struct vt_error pe;
        char *en = path_join(c.dir, CATALOG_FILE), *zh = path_join(c.dir, CATALOG_ZH_FILE);
        int prc = en && zh ? vt_props_load(en, &c.en, &pe) : VT_ENOMEM;
        if (prc == 0) {
            int zrc = vt_props_load(zh, &c.zh, &pe);
            if (zrc && zrc != VT_ENOTFOUND && report)
                fprintf(report, "sh3d: catalog %s: Chinese names left out: %s\n", c.folder,
                        pe.message);
        }
        vt_free(en);
        vt_free(zh);
        if (prc == VT_ENOMEM) {
            vt_props_free(c.en);
            vt_props_free(c.zh);
            vt_free(c.dir);
            for (size_t j = i + 1; j < n; j++)
                vt_free(cs[j].dir);
            catalogs_free(cs, kept);
            return vt_error_set(err, VT_ENOMEM, "", "out of memory");
        }
        if (prc) {
            if (report)
                fprintf(report, "sh3d: catalog %s skipped: %s\n", c.folder, pe.message);
            vt_free(c.dir);
            continue;
        }
        c.name = vt_props_get(c.en, "name");
        if (!c.name || !*c.name)
            c.name = c.folder;
        c.license = vt_props_get(c.en, "license");
        licence_of(&c);
        cs[kept++] = c;
    }
    if (kept == 0) {
        catalogs_free(cs, 0);
        return vt_error_set(err, VT_EFORMAT, "", "%s: no catalog could be read", src_dir);
    }
    *out = cs;
    *nout = kept;
    return 0;
}

static size_t catalog_pieces(const struct catalog *c)
{
    size_t n = 0;
    while (pget(c->en, "name", (int)n + 1))
        n++;
    return n;
}

/* ---- pieces --------------------------------------------------------- */

static void pieces_free(struct piece *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        vt_free(p[i].obj_path);
        vt_free(p[i].glb_path);
        vt_free(p[i].icon_path);
        vt_free(p[i].poster_path);
    }
    vt_free(p);
}

/* Fill what a piece needs before conversion. */
static int piece_prepare(struct piece *p, const struct vt_sh3d_options *o)
{
    const struct vt_props *en = p->cat->en;
    p->src_id = pget(en, "id", p->n);
    if (p->src_id && *p->src_id) {
        slugify(p->src_id, p->id);
    } else {
        char key[300];
        snprintf(key, sizeof key, "%s#%d", p->cat->folder, p->n);
        slugify(key, p->id);
    }
    static const char *keys[3] = {"width", "depth", "height"};
    p->has_dims = 1;
    for (int k = 0; k < 3; k++)
        if (parse_number(pget(en, keys[k], p->n), &p->dims_cm[k]) || p->dims_cm[k] <= 0 ||
            p->dims_cm[k] > VT_DIM_MAX_CM)
            p->has_dims = 0;
    p->state = MODEL_NONE;
    if (!o->assets_dir)
        return 0;
    const char *model = pget(en, "model", p->n), *rot = pget(en, "modelRotation", p->n);
    const char *icon = pget(en, "icon", p->n);
    p->state = MODEL_FAILED;
    if (!model || !*model) {
        snprintf(p->why, sizeof p->why, "the catalog names no model");
        return 0;
    }
    if (!safe_rel_path(model)) {
        snprintf(p->why, sizeof p->why, "model path '%.200s' is not inside the catalog", model);
        return 0;
    }
    if (!p->has_dims) {
        snprintf(p->why, sizeof p->why, "width, depth or height is missing or not a size");
        return 0;
    }
    if (rot && *rot) {
        if (parse_rotation(rot, p->glb.rotation)) {
            snprintf(p->why, sizeof p->why, "modelRotation '%.200s' is not 9 numbers", rot);
            return 0;
        }
        p->glb.has_rotation = 1;
    }
    /* glTF axes: x = width, y = height, z = depth, in metres */
    p->glb.dims_m[0] = p->dims_cm[0] / 100;
    p->glb.dims_m[1] = p->dims_cm[2] / 100;
    p->glb.dims_m[2] = p->dims_cm[1] / 100;
    char name[VT_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.glb", p->id);
    p->obj_path = path_join(p->cat->dir, model);
    p->glb_path = path_join(o->assets_dir, name);
    if (!p->obj_path || !p->glb_path)
        return VT_ENOMEM;
    if (icon && safe_rel_path(icon)) {
        snprintf(name, sizeof name, "%s.png", p->id);
        p->icon_path = path_join(p->cat->dir, icon);
        p->poster_path = path_join(o->assets_dir, name);
        if (!p->icon_path || !p->poster_path)
            return VT_ENOMEM;
    }
    p->state = MODEL_NONE;  /* to be converted */
    return 0;
}

/* Copy the catalog icon next to the GLB as the item's poster image. */
static int copy_icon(const char *from, const char *to, int overwrite)
{
    if (!overwrite && file_exists(to))
        return 0;
    FILE *in = fopen(from, "rb");
    if (!in)
        return VT_ENOTFOUND;
    size_t tl = strlen(to);
    char *tmp = vt_malloc(tl + 5);
    if (!tmp) {
        fclose(in);
        return VT_ENOMEM;
    }
    memcpy(tmp, to, tl);
    memcpy(tmp + tl, ".tmp", 5);
    FILE *out = fopen(tmp, "wb");
    int rc = out ? 0 : VT_EIO;
    char buf[65536];
    size_t got, total = 0;
    while (!rc && (got = fread(buf, 1, sizeof buf, in)) > 0) {
        total += got;
        if (total > MAX_ICON || fwrite(buf, 1, got, out) != got)
            rc = VT_EIO;
    }
    if (!rc && ferror(in))
        rc = VT_EIO;
    fclose(in);
    if (out && fclose(out) != 0)
        rc = VT_EIO;
    if (!rc && rename(tmp, to) != 0)
        rc = VT_EIO;
    if (rc)
        remove(tmp);
    vt_free(tmp);
    return rc;
}

static void convert_piece(struct piece *p, int reconvert)
{
    struct vt_error e;
    if (p->icon_path)
        p->has_poster = copy_icon(p->icon_path, p->poster_path, reconvert) == 0;
    if (!reconvert && file_exists(p->glb_path) &&
        vt_glb_check(p->glb_path, p->glb.dims_m, &p->res, &e) == 0) {
        p->state = MODEL_REUSED;
        return;
    }
    if (vt_glb_convert(p->obj_path, p->glb_path, &p->glb, &p->res, &e) == 0) {
        p->state = MODEL_OK;
    } else {
        p->state = MODEL_FAILED;
        snprintf(p->why, sizeof p->why, "%s", e.message);
    }
}

struct work {
    struct piece **todo;
    size_t n;
    int reconvert;
    atomic_size_t next, done;
};

static void *convert_worker(void *arg)
{
    struct work *w = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->n)
            break;
        convert_piece(w->todo[i], w->reconvert);
        atomic_fetch_add(&w->done, 1);
    }
    return NULL;
}

static int convert_all(struct piece *pc, size_t n, const struct vt_sh3d_options *o)
{
    struct work w = {.reconvert = o->reconvert};
    atomic_init(&w.next, 0);
    atomic_init(&w.done, 0);
    w.todo = n ? vt_calloc(n, sizeof *w.todo) : NULL;
    if (n && !w.todo)
        return VT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (pc[i].glb_path && pc[i].state == MODEL_NONE)
            w.todo[w.n++] = &pc[i];
    int threads = o->threads;
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)cpus : 1;
    }
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > w.n)
        threads = w.n ? (int)w.n : 1;
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, convert_worker, &w) != 0)
            break; /* fewer threads: the main thread still does the work */
        started++;
    }
    struct vt_progress pg;
    vt_progress_start(&pg, "converting models", (int64_t)w.n);
    /* the main thread works too, and draws the bar between its pieces */
    for (;;) {
        size_t i = atomic_fetch_add(&w.next, 1);
        if (i >= w.n)
            break;
        convert_piece(w.todo[i], w.reconvert);
        atomic_fetch_add(&w.done, 1);
        vt_progress_update(&pg, (int64_t)atomic_load(&w.done));
    }
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    vt_progress_update(&pg, (int64_t)w.n);
    vt_progress_finish(&pg);
    vt_free(w.todo);
    return 0;
}

/* ---- items ---------------------------------------------------------- */

static void set_new(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

/* "a, b ,c" -> ["a","b","c"] appended to arr, without repeats. */
static void add_tags(json_t *arr, const char *list)
{
    if (!list)
        return;
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *one = vt_strndup(s, n);
        json_t *t = one ? jtext(one, MAX_TAG) : NULL;
        vt_free(one);
        if (t) {
            int dup = 0;
            size_t i;
            json_t *x;
            json_array_foreach(arr, i, x)
            {
                if (json_equal(x, t))
                    dup = 1;
            }
            if (!dup && json_array_size(arr) < 100 && json_string_length(t) <= MAX_TAG)
                json_array_append(arr, t);
            json_decref(t);
        }
        s += n;
        if (*s == ',')
            s++;
    }
}

/* Category as a path without empty parts (record.c's rule). */
static json_t *category_path(const char *s)
{
    json_t *c = jtext(s, MAX_TEXT);
    if (!c)
        return NULL;
    const char *v = json_string_value(c);
    struct vt_buf b;
    vt_buf_init(&b, 0);
    while (*v) {
        const char *e = strchr(v, '/');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        while (n && isspace((unsigned char)*v)) {
            v++;
            n--;
        }
        size_t m = n;
        while (m && isspace((unsigned char)v[m - 1]))
            m--;
        if (m) {
            if (b.len)
                vt_buf_puts(&b, "/");
            vt_buf_append(&b, v, m);
        }
        v += n;
        if (*v == '/')
            v++;
    }
    json_decref(c);
    json_t *r = b.len ? json_stringn(b.data, b.len) : NULL;
    vt_buf_reset(&b);
    return r;
}

static json_t *piece_json(const struct piece *p, const char *url_prefix, int *zh_name)
{
    const struct catalog *c = p->cat;
    const struct vt_props *en = c->en, *zh = c->zh;
    json_t *j = json_object(), *title = json_object(), *tags = json_array(),
           *attr = json_object(), *assets = json_object();
    if (!j || !title || !tags || !attr || !assets) {
        json_decref(j);
        json_decref(title);
        json_decref(tags);
        json_decref(attr);
        json_decref(assets);
        return NULL;
    }
    json_object_set_new(j, "id", json_string(p->id));

    json_t *name = jtext(pget(en, "name", p->n), MAX_TEXT);
    set_new(title, "en", name ? name : json_string(p->id));
    const char *zh_name_s = zh ? pget(zh, "name", p->n) : NULL;
    *zh_name = has_cjk(zh_name_s);
    if (*zh_name)
        set_new(title, "zh", jtext(zh_name_s, MAX_TEXT));
    json_object_set_new(j, "title", title);

    const char *cat_en = pget(en, "category", p->n);
    set_new(j, "category", category_path(cat_en));
    const char *cat_zh = zh ? pget(zh, "category", p->n) : NULL;

    add_tags(tags, pget(en, "tags", p->n));
    const char *tags_zh = zh ? pget(zh, "tags", p->n) : NULL;
    if (has_cjk(tags_zh))
        add_tags(tags, tags_zh);
    if (json_array_size(tags))
        json_object_set(j, "tags", tags);
    json_decref(tags);

    json_t *creator = jtext(pget(en, "creator", p->n), MAX_TEXT);
    if (creator)
        json_object_set(attr, "creator", creator);
    set_new(attr, "license", json_string(c->spdx));
    set_new(attr, "license_text", jtext(c->license, MAX_TEXT));
    set_new(attr, "catalog", jtext(c->name, MAX_TEXT));
    if (p->src_id)
        set_new(attr, "source_id", jtext(p->src_id, MAX_TEXT));
    if (has_cjk(cat_zh))
        set_new(attr, "zh_category", jtext(cat_zh, MAX_TEXT));
    json_object_set_new(attr, "demo_price", json_true());
    json_object_set_new(attr, "demo_stock", json_true());
    const char *dw = pget(en, "doorOrWindow", p->n), *mv = pget(en, "movable", p->n);
    if (dw && strcmp(dw, "true") == 0)
        json_object_set_new(attr, "door_or_window", json_true());
    if (mv)
        json_object_set_new(attr, "movable", json_boolean(strcmp(mv, "false") != 0));
    double elev;
    if (parse_number(pget(en, "elevation", p->n), &elev) == 0 && elev > 0 && elev < VT_DIM_MAX_CM)
        json_object_set_new(attr, "elevation_cm", json_real(elev));
    json_object_set_new(j, "attributes", attr);

    double price = demo_price(p->id, cat_en, p->dims_cm, p->has_dims);
    json_object_set_new(j, "price", json_real(price));
    json_object_set_new(j, "currency", json_string("CNY"));
    json_object_set_new(j, "stock", json_integer(demo_stock(p->id)));
    /* Scale figures (people) help a room plan but are not goods: imported
     * so the catalog stays complete, hidden from shoppers. */
    if (cat_en && strcmp(cat_en, "Characters") == 0)
        json_object_set_new(j, "hidden", json_true());
    if (p->has_dims)
        json_object_set_new(j, "dims_cm", json_pack("{s:f,s:f,s:f}", "w", p->dims_cm[0], "d",
                                                     p->dims_cm[1], "h", p->dims_cm[2]));

    int has_model = p->state == MODEL_OK || p->state == MODEL_REUSED;
    if (has_model) {
        char url[2048];
        snprintf(url, sizeof url, "%s%s.glb", url_prefix, p->id);
        json_object_set_new(j, "model_url", json_string(url));
        json_object_set_new(assets, "model_bytes", json_integer(p->res.bytes));
        json_object_set_new(assets, "model_bbox_ok", json_boolean(p->res.bbox_ok));
    }
    if (p->has_poster) {
        char url[2048];
        snprintf(url, sizeof url, "%s%s.png", url_prefix, p->id);
        json_object_set_new(assets, "poster", json_string(url));
    }
    /* attribution as the licence asks: title, author, source, licence */
    struct vt_buf credit;
    vt_buf_init(&credit, 4096);
    vt_buf_printf(&credit, "\u201c%s\u201d", name ? json_string_value(name) : p->id);
    if (creator)
        vt_buf_printf(&credit, " by %s", json_string_value(creator));
    vt_buf_printf(&credit, ", from %s (Sweet Home 3D furniture library), %s", c->name,
                  c->license_short);
    if (c->license && strcmp(c->license_short, c->license) != 0 &&
        (strstr(c->license, "Copyright") || strstr(c->license, "\u00a9"))) {
        const char *cp = strstr(c->license, "Copyright");
        if (!cp)
            cp = strstr(c->license, "\u00a9");
        vt_buf_printf(&credit, " (%s)", cp);
    }
    if (credit.data)
        json_object_set_new(assets, "credit", json_string(credit.data));
    vt_buf_reset(&credit);
    if (creator)
        json_object_set(assets, "creator", creator);
    json_decref(creator);
    json_object_set_new(assets, "license", json_string(c->spdx));
    if (c->license_url)
        json_object_set_new(assets, "license_url", json_string(c->license_url));
    json_object_set_new(j, "assets", assets);
    return j;
}

static int store_batch(struct vt_store *s, struct vt_item *items, size_t *n,
                       struct vt_sh3d_report *r, struct vt_error *err)
{
    if (*n == 0)
        return 0;
    size_t bad = 0;
    int rc = vt_store_items_put(s, items, *n, VT_PUT_UPSERT, &bad, err);
    if (rc == 0)
        r->imported += *n;
    for (size_t i = 0; i < *n; i++)
        vt_item_reset(&items[i]);
    *n = 0;
    return rc;
}

/* ---- the import ----------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void report_piece(FILE *f, const struct piece *p, const char *fmt, ...)
{
    if (!f)
        return;
    const char *name = pget(p->cat->en, "name", p->n);
    fprintf(f, "sh3d: %s (%s #%d \"%s\"): ", p->id, p->cat->folder, p->n, name ? name : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

int vt_sh3d_import(struct vt_store *s, const struct vt_sh3d_options *o,
                   struct vt_sh3d_report *r, struct vt_error *err)
{
    int64_t t0 = vt_time_mono_ns();
    vt_error_clear(err);
    memset(r, 0, sizeof *r);
    if (!o || !o->src_dir)
        return vt_error_set(err, VT_EINVAL, "src_dir", "no catalog folder given");
    const char *prefix = o->url_prefix ? o->url_prefix : "/assets/models/";
    struct catalog *cs = NULL;
    size_t ncat = 0, npc = 0;
    struct piece *pc = NULL;
    struct vt_item *items = NULL;
    size_t nitems = 0;
    int rc = catalogs_load(o->src_dir, o->report, &cs, &ncat, err);
    if (rc)
        return rc;
    r->catalogs = ncat;
    if (o->assets_dir && mkdir_p(o->assets_dir) != 0) {
        rc = vt_error_set(err, VT_EIO, "", "%s: cannot create the folder: %s", o->assets_dir,
                          strerror(errno));
        goto out;
    }

    /* list pieces, in turn from each catalog */
    size_t *count = vt_calloc(ncat, sizeof *count), total = 0, most = 0;
    if (!count) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t c = 0; c < ncat; c++) {
        count[c] = catalog_pieces(&cs[c]);
        total += count[c];
        if (count[c] > most)
            most = count[c];
    }
    r->pieces = total;
    if (o->limit && o->limit < total)
        total = o->limit;
    pc = total ? vt_calloc(total, sizeof *pc) : NULL;
    if (total && !pc) {
        vt_free(count);
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t k = 0; k < most && npc < total; k++)
        for (size_t c = 0; c < ncat && npc < total; c++)
            if (k < count[c]) {
                pc[npc].cat = &cs[c];
                pc[npc].n = (int)k + 1;
                npc++;
            }
    vt_free(count);
    for (size_t i = 0; i < npc; i++)
        if ((rc = piece_prepare(&pc[i], o))) {
            rc = vt_error_set(err, rc, "", "out of memory");
            goto out;
        }
    if ((rc = make_ids_unique(pc, npc))) {
        rc = vt_error_set(err, rc, "", "out of memory");
        goto out;
    }
    /* ids may have changed: file names follow them */
    for (size_t i = 0; i < npc && o->assets_dir; i++) {
        if (!pc[i].glb_path)
            continue;
        char name[VT_ID_MAX + 8];
        snprintf(name, sizeof name, "%s.glb", pc[i].id);
        if (strcmp(strrchr(pc[i].glb_path, '/') + 1, name) != 0) {
            vt_free(pc[i].glb_path);
            vt_free(pc[i].poster_path);
            pc[i].poster_path = NULL;
            pc[i].glb_path = path_join(o->assets_dir, name);
            snprintf(name, sizeof name, "%s.png", pc[i].id);
            if (pc[i].icon_path)
                pc[i].poster_path = path_join(o->assets_dir, name);
            if (!pc[i].glb_path || (pc[i].icon_path && !pc[i].poster_path)) {
                rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
                goto out;
            }
        }
    }

    /* convert */
    if (o->assets_dir && (rc = convert_all(pc, npc, o))) {
        rc = vt_error_set(err, rc, "", "out of memory");
        goto out;
    }

    /* build and store */
    items = vt_calloc(BATCH, sizeof *items);
    if (!items) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < npc; i++) {
        struct piece *p = &pc[i];
        if (p->state == MODEL_FAILED) {
            r->models_failed++;
            report_piece(o->report, p, "imported without a model: %s", p->why);
        } else if (p->state == MODEL_OK || p->state == MODEL_REUSED) {
            r->models_ok++;
            r->models_reused += p->state == MODEL_REUSED;
            r->glb_bytes += p->res.bytes;
            r->textures_missing += p->res.missing_textures;
            if (!p->res.bbox_ok) {
                r->bbox_mismatch++;
                report_piece(o->report, p, "bounding box: %s", p->res.mismatch);
            }
            if (p->res.missing_textures)
                report_piece(o->report, p,
                             "%u texture reference(s) dropped (file not found, not PNG or "
                             "JPEG, or a mesh without texture coordinates); drawn without them",
                             p->res.missing_textures);
        }
        int zh = 0;
        json_t *j = piece_json(p, prefix, &zh);
        if (!j) {
            rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
            goto out;
        }
        struct vt_error ve;
        int vrc = vt_item_from_json(j, NULL, &items[nitems], &ve);
        json_decref(j);
        if (vrc) {
            /* should not happen: keep the piece with what surely passes */
            report_piece(o->report, p, "stored with its id and name only: %s", ve.message);
            json_t *min = json_pack("{s:s,s:{s:s}}", "id", p->id, "title", "en", p->id);
            vrc = min ? vt_item_from_json(min, NULL, &items[nitems], &ve) : VT_ENOMEM;
            json_decref(min);
            if (vrc) {
                rc = vt_error_set(err, vrc, "", "%s: %s", p->id, ve.message);
                goto out;
            }
        }
        r->zh_names += zh;
        nitems++;
        if (nitems == BATCH && (rc = store_batch(s, items, &nitems, r, err)))
            goto out;
    }
    rc = store_batch(s, items, &nitems, r, err);
out:
    for (size_t i = 0; items && i < nitems; i++)
        vt_item_reset(&items[i]);
    vt_free(items);
    pieces_free(pc, npc);
    catalogs_free(cs, ncat);
    r->seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
    return rc;
}
