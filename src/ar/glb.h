/*
 * glb.h - convert a catalog model (OBJ + MTL + textures) to one binary glTF.
 *
 * The model is read with libassimp, turned by the catalog's optional model
 * rotation, stretched on each axis so that its bounding box is the catalog's
 * box (X = width, Y = height, Z = depth, in metres; Sweet Home 3D stretches
 * models the same way), and placed on the floor: min Y = 0, centred in X and
 * Z. Normals are generated where the model has none (smooth up to 80
 * degrees); textures are embedded, one image per distinct file. The GLB is
 * written as "<name>.tmp.glb" and renamed into place, so a GLB that
 * exists is complete. It is then read back and its bounding box compared
 * with the catalog box.
 *
 * Thread-safety: vt_glb_convert() and vt_glb_bbox() may run on several
 * threads at once. libassimp's C API keeps the last import error in one
 * global string, so the file-reading step is serialised internally; the
 * rest (post-processing, export) runs in parallel.
 */
#ifndef VT_AR_GLB_H
#define VT_AR_GLB_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_GLB_TOLERANCE 0.01  /* relative bbox error accepted per axis */

struct vt_glb_options {
    double dims_m[3];     /* target box: x = width, y = height, z = depth (> 0) */
    double rotation[9];   /* row-major R, p' = R p; used when has_rotation */
    int has_rotation;
};

struct vt_glb_result {
    double raw_min[3], raw_max[3];      /* the model as read, before anything */
    double scale[3];                    /* per-axis factor applied after rotation */
    double out_min[3], out_max[3];      /* read back from the written GLB */
    int bbox_ok;                        /* out box matches dims_m within tolerance,
                                           on the floor and centred */
    double worst_error;                 /* largest relative axis error seen */
    char mismatch[160];                 /* what does not match, "" when bbox_ok */
    uint32_t meshes, vertices, triangles;
    uint32_t images;                    /* distinct embedded images */
    uint32_t missing_textures;          /* texture references dropped: file not found,
                                           not a PNG or JPEG image, or on meshes
                                           without texture coordinates */
    int64_t bytes;                      /* size of the GLB */
};

/* Convert obj_path into glb_path (directories must exist). Returns 0 when a
 * GLB was written, even if its box does not match (then r->bbox_ok = 0 and
 * r->mismatch says which axis). Errors: VT_ENOTFOUND (no such OBJ),
 * VT_EFORMAT (unreadable or empty model, or the written GLB does not read
 * back), VT_EINVAL (bad options), VT_EIO (cannot write). No file is left at
 * glb_path on error. */
int vt_glb_convert(const char *obj_path, const char *glb_path, const struct vt_glb_options *o,
                   struct vt_glb_result *r, struct vt_error *err);

/* Read an existing GLB back and compare its box with dims_m: fills the
 * out_*, vertices, triangles, bytes, bbox_ok, worst_error and mismatch
 * members of r (the others are left as they are). Errors as above. */
int vt_glb_check(const char *glb_path, const double dims_m[3], struct vt_glb_result *r,
                 struct vt_error *err);

/* Bounding box in model units of any file libassimp reads (node transforms
 * applied). Errors as above. */
int vt_glb_bbox(const char *path, double min[3], double max[3], struct vt_error *err);

#endif
