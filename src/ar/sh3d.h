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
#include <stdio.h>

#include "core/error.h"
#include "store/store.h"

struct vt_sh3d_options {
    const char *src_dir;     /* extracted catalogs */
    const char *assets_dir;  /* where .glb files are written (created) */
    const char *url_prefix;  /* model_url prefix, e.g. "/assets/models/" */
    size_t limit;            /* import at most this many pieces (0 = all) */
    int reconvert;           /* convert even when the .glb already exists */
    FILE *report;            /* per-piece problems are written here (may be NULL) */
};

struct vt_sh3d_report {
    size_t catalogs, pieces, imported, models_ok, models_failed, bbox_mismatch, zh_names;
};

int vt_sh3d_import(struct vt_store *s, const struct vt_sh3d_options *o,
                   struct vt_sh3d_report *r, struct vt_error *err);

#endif
