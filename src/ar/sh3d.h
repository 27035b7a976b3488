/*
 * sh3d.h - import the Sweet Home 3D furniture catalogs as a demo shop.
 *
 * src_dir holds one folder per extracted .sh3f catalog (scripts/fetch-demo
 * makes them), each with PluginFurnitureCatalog.properties, its _zh_CN
 * variant and the OBJ/MTL/texture files. Every piece becomes an item with
 * en/zh titles (zh only when it contains a Chinese character), category,
 * tags, real dimensions, creator and licence, a deterministic demo price;
 * its OBJ is converted to a GLB under assets_dir (see glb.h). A piece
 * whose model fails to convert is imported without a model and reported.
 */
#ifndef VT_AR_SH3D_H
#define VT_AR_SH3D_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "store/store.h"

struct vt_sh3d_options {
    const char *src_dir;     /* extracted catalogs */
    const char *assets_dir;  /* where .glb files are written (created); NULL:
                                import the pieces without converting models */
    const char *url_prefix;  /* model_url prefix, e.g. "/assets/models/" */
    size_t limit;            /* import at most this many pieces (0 = all) */
    int reconvert;           /* convert even when the .glb already exists */
    FILE *report;            /* per-piece problems are written here (may be NULL) */
    int threads;             /* conversion threads; 0 = one per CPU, at most 4 */
};

struct vt_sh3d_report {
    /* pieces: all pieces of the catalogs read, even with a limit; the rest
     * count the pieces of this import */
    size_t catalogs, pieces, imported, models_ok, models_failed, bbox_mismatch, zh_names;
    size_t models_reused;     /* of models_ok: GLB already there (read back and checked) */
    size_t textures_missing;  /* texture references dropped (glb.h: missing_textures) */
    int64_t glb_bytes;        /* total size of the GLBs of imported pieces */
    double seconds;           /* wall time of the whole import */
};

/* Import every piece (or o->limit of them, taken in turn from each catalog
 * so that a small import still samples all catalogs) and upsert them into
 * s. Returns 0 when all pieces were stored, even if some models failed
 * (counted in r and written to o->report). A catalog whose properties file
 * does not parse is reported and skipped. Errors: VT_ENOTFOUND (no catalog
 * under src_dir), VT_EFORMAT (none of them could be read), VT_EIO
 * (assets_dir not writable), store errors.
 * Not to be run twice at once on the same assets_dir. */
int vt_sh3d_import(struct vt_store *s, const struct vt_sh3d_options *o,
                   struct vt_sh3d_report *r, struct vt_error *err);

#endif
