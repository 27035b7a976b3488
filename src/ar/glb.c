/*
 * glb.c - OBJ to GLB with libassimp's C API (see glb.h for the contract).
 *
 * Steps for one model:
 *   1. read the OBJ with node transforms baked into the vertices
 *      (aiProcess_PreTransformVertices), so every mesh is in model space;
 *   2. measure it, work out M = S R (catalog rotation, then per-axis scale
 *      to the catalog box) and the floor/centre translation t, and apply
 *      p' = M p + t to positions and n' = normalise(M^-T n) to normals in
 *      place (the arrays keep their size, so the importer still owns them);
 *   3. post-process on the importer that read the file: drop faces that
 *      repeat a corner, triangulate, generate smooth normals (max 80 degrees: the default made zero-length
 *      normals on two-sided sheets), drop unused materials, embed textures.
 *      Identical vertices are merged by the glb2 exporter itself: with
 *      aiProcess_JoinIdenticalVertices here as well, libassimp 5.2.5 wrote
 *      every triangle corner as its own vertex (files 3-4x larger);
 *   4. give materials that share a texture file the same embedded image
 *      (aiProcess_EmbedTextures adds one copy per material) and hide
 *      references to texture files that could not be found or are neither
 *      PNG nor JPEG, so the GLB never points at a missing external file or
 *      an image a viewer cannot decode (the model is drawn without it, as
 *      Sweet Home 3D does); keep colours and factors in glTF's ranges and
 *      every normal of unit length;
 *   5. export "glb2" to "<out>.tmp.glb", read it back, compare its box with
 *      the catalog's, rename it into place.
 *
 * The scene returned by aiImportFile is typed const; changing its numbers
 * in place is what step 2 and 4 do on purpose, without reallocating
 * anything the importer will later free.
 */
#include "ar/glb.h"

#include <assimp/cexport.h>
#include <assimp/cimport.h>
#include <assimp/config.h>
#include <assimp/material.h>
#include <assimp/postprocess.h>
#include <assimp/scene.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

#define SMOOTHING_ANGLE 80.0f
#define MAX_DIM_M 1000.0
#define TEX_FILE_KEY "$tex.file"   /* _AI_MATKEY_TEXTURE_BASE */
#define TEX_HIDDEN_KEY "$tex.gone" /* same length: rewritten in place */

/* libassimp stores the last import error in one global string. */
static pthread_mutex_t import_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct aiScene *import_locked(const char *path, unsigned flags,
                                           const struct aiPropertyStore *ps, struct vt_error *err)
{
    pthread_mutex_lock(&import_lock);
    const struct aiScene *sc = aiImportFileExWithProperties(path, flags, NULL, ps);
    if (!sc) {
        const char *why = aiGetErrorString();
        vt_error_set(err, VT_EFORMAT, "", "%s: cannot read the model: %s", path,
                     why && *why ? why : "unknown libassimp error");
    }
    pthread_mutex_unlock(&import_lock);
    return sc;
}

static int file_check(const char *path, struct vt_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return vt_error_set(err, errno == ENOENT ? VT_ENOTFOUND : VT_EIO, "", "%s: %s", path,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vt_error_set(err, VT_EFORMAT, "", "%s: not a regular file", path);
    if (st.st_size == 0)
        return vt_error_set(err, VT_EFORMAT, "", "%s: empty file", path);
    return 0;
}

/* Box of all vertices of a scene whose vertices are already in model space.
 * Returns the number of vertices, or -1 if one is not finite. */
static int64_t scene_box(const struct aiScene *sc, const double *m, double mn[3], double mx[3])
{
    int64_t n = 0;
    for (int k = 0; k < 3; k++) {
        mn[k] = INFINITY;
        mx[k] = -INFINITY;
    }
    for (unsigned i = 0; i < sc->mNumMeshes; i++) {
        const struct aiMesh *me = sc->mMeshes[i];
        for (unsigned v = 0; v < me->mNumVertices; v++) {
            double p[3] = {me->mVertices[v].x, me->mVertices[v].y, me->mVertices[v].z}, q[3];
            if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2]))
                return -1;
            for (int k = 0; k < 3; k++)
                q[k] = m ? m[3 * k] * p[0] + m[3 * k + 1] * p[1] + m[3 * k + 2] * p[2] : p[k];
            for (int k = 0; k < 3; k++) {
                if (q[k] < mn[k])
                    mn[k] = q[k];
                if (q[k] > mx[k])
                    mx[k] = q[k];
            }
            n++;
        }
    }
    return n;
}

/* Box and counts over the node tree, with accumulated node transforms. */
struct tally {
    double mn[3], mx[3];
    int64_t vertices, triangles;
};

static void node_box(const struct aiScene *sc, const struct aiNode *nd, struct aiMatrix4x4 parent,
                     struct tally *t)
{
    struct aiMatrix4x4 w = parent; /* world = parent * local */
    aiMultiplyMatrix4(&w, &nd->mTransformation);
    for (unsigned i = 0; i < nd->mNumMeshes; i++) {
        if (nd->mMeshes[i] >= sc->mNumMeshes)
            continue;
        const struct aiMesh *me = sc->mMeshes[nd->mMeshes[i]];
        for (unsigned v = 0; v < me->mNumVertices; v++) {
            struct aiVector3D p = me->mVertices[v];
            aiTransformVecByMatrix4(&p, &w);
            double q[3] = {p.x, p.y, p.z};
            for (int k = 0; k < 3; k++) {
                if (q[k] < t->mn[k])
                    t->mn[k] = q[k];
                if (q[k] > t->mx[k])
                    t->mx[k] = q[k];
            }
        }
        t->vertices += me->mNumVertices;
        t->triangles += me->mNumFaces;
    }
    for (unsigned c = 0; c < nd->mNumChildren; c++)
        node_box(sc, nd->mChildren[c], w, t);
}

static int read_back(const char *path, struct tally *t, struct vt_error *err)
{
    int rc = file_check(path, err);
    if (rc)
        return rc;
    const struct aiScene *sc = import_locked(path, 0, NULL, err);
    if (!sc)
        return VT_EFORMAT;
    memset(t, 0, sizeof *t);
    for (int k = 0; k < 3; k++) {
        t->mn[k] = INFINITY;
        t->mx[k] = -INFINITY;
    }
    struct aiMatrix4x4 id;
    aiIdentityMatrix4(&id);
    if (sc->mRootNode)
        node_box(sc, sc->mRootNode, id, t);
    aiReleaseImport(sc);
    if (t->vertices == 0)
        return vt_error_set(err, VT_EFORMAT, "", "%s: the model has no vertices", path);
    return 0;
}

int vt_glb_bbox(const char *path, double min[3], double max[3], struct vt_error *err)
{
    struct tally t;
    int rc = read_back(path, &t, err);
    if (rc)
        return rc;
    memcpy(min, t.mn, sizeof t.mn);
    memcpy(max, t.mx, sizeof t.mx);
    return 0;
}

/* 3x3 inverse; returns the determinant (0 when singular). */
static double mat3_inverse(const double *m, double *inv)
{
    double c0 = m[4] * m[8] - m[5] * m[7], c1 = m[5] * m[6] - m[3] * m[8],
           c2 = m[3] * m[7] - m[4] * m[6];
    double det = m[0] * c0 + m[1] * c1 + m[2] * c2;
    if (fabs(det) < 1e-300)
        return 0;
    double d = 1.0 / det;
    inv[0] = c0 * d;
    inv[1] = (m[2] * m[7] - m[1] * m[8]) * d;
    inv[2] = (m[1] * m[5] - m[2] * m[4]) * d;
    inv[3] = c1 * d;
    inv[4] = (m[0] * m[8] - m[2] * m[6]) * d;
    inv[5] = (m[2] * m[3] - m[0] * m[5]) * d;
    inv[6] = c2 * d;
    inv[7] = (m[1] * m[6] - m[0] * m[7]) * d;
    inv[8] = (m[0] * m[4] - m[1] * m[3]) * d;
    return det;
}

static void apply_transform(const struct aiScene *sc, const double *m, const double *t)
{
    double inv[9], nm[9];  /* normal matrix = (M^-1)^T */
    double det = mat3_inverse(m, inv);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            nm[3 * r + c] = inv[3 * c + r];
    for (unsigned i = 0; i < sc->mNumMeshes; i++) {
        struct aiMesh *me = sc->mMeshes[i];
        for (unsigned v = 0; v < me->mNumVertices; v++) {
            struct aiVector3D *p = &me->mVertices[v];
            double x = p->x, y = p->y, z = p->z;
            p->x = (float)(m[0] * x + m[1] * y + m[2] * z + t[0]);
            p->y = (float)(m[3] * x + m[4] * y + m[5] * z + t[1]);
            p->z = (float)(m[6] * x + m[7] * y + m[8] * z + t[2]);
            if (me->mNormals) {
                struct aiVector3D *n = &me->mNormals[v];
                double a = n->x, b = n->y, c = n->z;
                double nx = nm[0] * a + nm[1] * b + nm[2] * c, ny = nm[3] * a + nm[4] * b + nm[5] * c,
                       nz = nm[6] * a + nm[7] * b + nm[8] * c;
                double len = sqrt(nx * nx + ny * ny + nz * nz);
                if (len > 0) {
                    n->x = (float)(nx / len);
                    n->y = (float)(ny / len);
                    n->z = (float)(nz / len);
                }
            }
        }
        /* a mirroring transform turns faces inside out: restore the winding */
        if (det < 0) {
            for (unsigned f = 0; f < me->mNumFaces; f++) {
                struct aiFace *fc = &me->mFaces[f];
                for (unsigned a = 0, b = fc->mNumIndices ? fc->mNumIndices - 1 : 0; a < b; a++, b--) {
                    unsigned tmp = fc->mIndices[a];
                    fc->mIndices[a] = fc->mIndices[b];
                    fc->mIndices[b] = tmp;
                }
            }
        }
    }
}

/* ---- textures ------------------------------------------------------- */

/* glTF viewers decode PNG and JPEG only: name the format from the bytes
 * (the file extension may lie or be upper-case); 0 if it is neither. */
static int fix_format_hint(struct aiTexture *tx)
{
    const unsigned char *d = (const unsigned char *)tx->pcData;
    if (tx->mHeight != 0 || !d)
        return 0;
    if (tx->mWidth >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
        memcpy(tx->achFormatHint, "png", 4);
        return 1;
    }
    if (tx->mWidth >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        memcpy(tx->achFormatHint, "jpg", 4);
        return 1;
    }
    return 0;
}

static int same_texture(const struct aiTexture *a, const struct aiTexture *b)
{
    if (a->mHeight != 0 || b->mHeight != 0 || a->mWidth != b->mWidth)
        return 0;
    return memcmp(a->pcData, b->pcData, a->mWidth) == 0;
}

/* The aiString stored in a material property: uint32 length, bytes, NUL. */
static int prop_string(struct aiMaterialProperty *pr, char **s, uint32_t *len)
{
    if (pr->mType != aiPTI_String || pr->mDataLength < 5)
        return 0;
    memcpy(len, pr->mData, 4);
    if ((uint64_t)*len + 5 > pr->mDataLength)
        return 0;
    *s = pr->mData + 4;
    return 1;
}

static void hide_texture(struct aiMaterialProperty *pr)
{
    memcpy(pr->mKey.data, TEX_HIDDEN_KEY, sizeof TEX_HIDDEN_KEY);
    pr->mKey.length = (uint32_t)strlen(TEX_HIDDEN_KEY);
}

/* Point every material at the first embedded copy of its texture data and
 * hide references that are not embedded, and the textures of materials
 * that only meshes without texture coordinates use (glTF forbids those).
 * Returns distinct images used. */
static uint32_t share_textures(const struct aiScene *sc, uint32_t *missing)
{
    uint32_t nt = sc->mNumTextures, used = 0;
    /* per material: 1 = used by a mesh with UVs, 2 = by one without */
    unsigned char *uses = sc->mNumMaterials ? vt_calloc(sc->mNumMaterials, 1) : NULL;
    for (unsigned i = 0; uses && i < sc->mNumMeshes; i++) {
        const struct aiMesh *me = sc->mMeshes[i];
        if (me->mMaterialIndex < sc->mNumMaterials)
            uses[me->mMaterialIndex] |= me->mTextureCoords[0] ? 1 : 2;
    }
    unsigned *canon = nt ? vt_calloc(nt, sizeof *canon) : NULL; /* nt = unusable */
    unsigned char *seen = nt ? vt_calloc(nt, 1) : NULL;
    if (nt && (!canon || !seen)) {  /* out of memory: export as it is */
        vt_free(canon);
        vt_free(seen);
        canon = NULL;
        seen = NULL;
        nt = 0;
    }
    for (unsigned i = 0; i < nt; i++) {
        if (!fix_format_hint(sc->mTextures[i])) {
            canon[i] = nt;
            continue;
        }
        canon[i] = i;
        for (unsigned j = 0; j < i; j++)
            if (canon[j] == j && same_texture(sc->mTextures[i], sc->mTextures[j])) {
                canon[i] = j;
                break;
            }
    }
    *missing = 0;
    for (unsigned m = 0; m < sc->mNumMaterials; m++) {
        struct aiMaterial *mat = sc->mMaterials[m];
        for (unsigned p = 0; p < mat->mNumProperties; p++) {
            struct aiMaterialProperty *pr = mat->mProperties[p];
            char *s;
            uint32_t len;
            if (strcmp(pr->mKey.data, TEX_FILE_KEY) != 0 || !prop_string(pr, &s, &len))
                continue;
            unsigned long idx = 0;
            char *end = NULL;
            if (len >= 2 && s[0] == '*')
                idx = strtoul(s + 1, &end, 10);
            if (!end || *end != '\0' || idx >= nt || canon[idx] == nt ||
                (uses && uses[m] == 2)) {
                /* not embedded (file missing or unreadable), not an image a
                 * viewer can decode, or nowhere to map it: drop it */
                hide_texture(pr);
                (*missing)++;
                continue;
            }
            unsigned c = canon[idx];
            if (!seen[c]) {
                seen[c] = 1;
                used++;
            }
            if (c != idx) {  /* "*c" is never longer than "*idx" since c < idx */
                char tmp[16];
                int n = snprintf(tmp, sizeof tmp, "*%u", c);
                memcpy(s, tmp, (size_t)n + 1);
                memcpy(pr->mData, &(uint32_t){(uint32_t)n}, 4);
            }
        }
    }
    vt_free(canon);
    vt_free(seen);
    vt_free(uses);
    return used;
}

/* Colours and factors within what glTF allows: libassimp's exporter turns
 * an MTL "Ks" above 1 into a specular factor above 1 and a negative
 * roughness. */
static void clamp_materials(const struct aiScene *sc)
{
    static const char *unit_keys[] = {"$clr.diffuse", "$clr.specular", "$clr.emissive",
                                      "$clr.ambient", "$mat.opacity"};
    for (unsigned m = 0; m < sc->mNumMaterials; m++) {
        struct aiMaterial *mat = sc->mMaterials[m];
        for (unsigned p = 0; p < mat->mNumProperties; p++) {
            struct aiMaterialProperty *pr = mat->mProperties[p];
            if (pr->mType != aiPTI_Float || pr->mDataLength % sizeof(float) != 0)
                continue;
            double lo = 0, hi = 1;
            int known = 0;
            for (size_t k = 0; k < sizeof unit_keys / sizeof unit_keys[0]; k++)
                known |= strcmp(pr->mKey.data, unit_keys[k]) == 0;
            if (strcmp(pr->mKey.data, "$mat.shininess") == 0) {
                hi = 1000;
                known = 1;
            }
            if (!known)
                continue;
            for (unsigned o = 0; o + sizeof(float) <= pr->mDataLength; o += sizeof(float)) {
                float f;
                memcpy(&f, pr->mData + o, sizeof f);
                float c = !isfinite(f) || f < lo ? (float)lo : f > hi ? (float)hi : f;
                memcpy(pr->mData + o, &c, sizeof c);
            }
        }
    }
}

/* Unit normals everywhere: a vertex of a zero-area triangle that survived
 * gets a zero normal from libassimp; it draws nothing, point it up. */
static void fix_normals(const struct aiScene *sc)
{
    for (unsigned i = 0; i < sc->mNumMeshes; i++) {
        struct aiMesh *me = sc->mMeshes[i];
        for (unsigned v = 0; me->mNormals && v < me->mNumVertices; v++) {
            struct aiVector3D *n = &me->mNormals[v];
            double len = sqrt((double)n->x * n->x + (double)n->y * n->y + (double)n->z * n->z);
            if (!isfinite(len) || len < 1e-6) {
                n->x = 0;
                n->y = 1;
                n->z = 0;
            } else if (fabs(len - 1) > 1e-5) {
                n->x = (float)(n->x / len);
                n->y = (float)(n->y / len);
                n->z = (float)(n->z / len);
            }
        }
    }
}

/* ---- conversion ----------------------------------------------------- */

static void describe_mismatch(struct vt_glb_result *r, const double *dims)
{
    static const char *axis[3] = {"width (x)", "height (y)", "depth (z)"};
    r->bbox_ok = 1;
    r->worst_error = 0;
    r->mismatch[0] = '\0';
    for (int k = 0; k < 3; k++) {
        double ext = r->out_max[k] - r->out_min[k];
        double e = fabs(ext - dims[k]) / dims[k];
        if (e > r->worst_error)
            r->worst_error = e;
        if (e > VT_GLB_TOLERANCE && fabs(ext - dims[k]) > 1e-6) {
            if (r->bbox_ok)
                snprintf(r->mismatch, sizeof r->mismatch,
                         "%s is %.4f m in the GLB, catalog says %.4f m (%.1f%% off)", axis[k], ext,
                         dims[k], 100 * e);
            r->bbox_ok = 0;
        }
    }
    if (!r->bbox_ok)
        return;
    double cx = (r->out_min[0] + r->out_max[0]) / 2, cz = (r->out_min[2] + r->out_max[2]) / 2;
    if (fabs(r->out_min[1]) > VT_GLB_TOLERANCE * dims[1] + 1e-6 ||
        fabs(cx) > VT_GLB_TOLERANCE * dims[0] + 1e-6 || fabs(cz) > VT_GLB_TOLERANCE * dims[2] + 1e-6) {
        snprintf(r->mismatch, sizeof r->mismatch,
                 "not on the floor and centred: min y %.4f, centre x %.4f, centre z %.4f",
                 r->out_min[1], cx, cz);
        r->bbox_ok = 0;
    }
}

int vt_glb_check(const char *glb_path, const double dims_m[3], struct vt_glb_result *r,
                 struct vt_error *err)
{
    struct tally t;
    int rc = read_back(glb_path, &t, err);
    if (rc)
        return rc;
    memcpy(r->out_min, t.mn, sizeof t.mn);
    memcpy(r->out_max, t.mx, sizeof t.mx);
    r->vertices = (uint32_t)t.vertices;
    r->triangles = (uint32_t)t.triangles;
    struct stat st;
    if (stat(glb_path, &st) == 0)
        r->bytes = (int64_t)st.st_size;
    describe_mismatch(r, dims_m);
    return 0;
}

int vt_glb_convert(const char *obj_path, const char *glb_path, const struct vt_glb_options *o,
                   struct vt_glb_result *r, struct vt_error *err)
{
    vt_error_clear(err);
    memset(r, 0, sizeof *r);
    for (int k = 0; k < 3; k++)
        if (!isfinite(o->dims_m[k]) || o->dims_m[k] <= 0 || o->dims_m[k] > MAX_DIM_M)
            return vt_error_set(err, VT_EINVAL, "dims", "catalog size %g m is out of range",
                                o->dims_m[k]);
    double rot[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (o->has_rotation) {
        double inv[9];
        for (int k = 0; k < 9; k++)
            if (!isfinite(o->rotation[k]))
                return vt_error_set(err, VT_EINVAL, "modelRotation", "rotation is not finite");
        memcpy(rot, o->rotation, sizeof rot);
        if (fabs(mat3_inverse(rot, inv)) < 1e-6)
            return vt_error_set(err, VT_EINVAL, "modelRotation", "rotation matrix is singular");
    }
    int rc = file_check(obj_path, err);
    if (rc)
        return rc;
    size_t plen = strlen(glb_path);
    char *tmp = vt_malloc(plen + 9);
    if (!tmp)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    memcpy(tmp, glb_path, plen);
    memcpy(tmp + plen, ".tmp.glb", 9); /* libassimp goes by the extension */

    struct aiPropertyStore *ps = aiCreatePropertyStore();
    const struct aiScene *sc = NULL;
    int written = 0;
    if (!ps) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    aiSetImportPropertyFloat(ps, AI_CONFIG_PP_GSN_MAX_SMOOTHING_ANGLE, SMOOTHING_ANGLE);
    /* drop faces that repeat a corner (their normal would be zero), but
     * not small ones: the default area test would eat millimetre detail */
    aiSetImportPropertyInteger(ps, AI_CONFIG_PP_FD_REMOVE, 1);
    aiSetImportPropertyInteger(ps, AI_CONFIG_PP_FD_CHECKAREA, 0);

    /* 1. read */
    sc = import_locked(obj_path, aiProcess_PreTransformVertices, ps, err);
    if (!sc) {
        rc = VT_EFORMAT;
        goto out;
    }
    if (sc->mFlags & AI_SCENE_FLAGS_INCOMPLETE) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: the model is incomplete", obj_path);
        goto out;
    }
    /* 2. measure, transform */
    int64_t nv = scene_box(sc, NULL, r->raw_min, r->raw_max);
    double mn[3], mx[3];
    if (nv > 0)
        nv = scene_box(sc, rot, mn, mx);
    if (nv < 0) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: a vertex is not a finite number", obj_path);
        goto out;
    }
    if (nv == 0) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: the model has no faces to draw", obj_path);
        goto out;
    }
    double ext[3], biggest = 0;
    for (int k = 0; k < 3; k++) {
        ext[k] = mx[k] - mn[k];
        if (ext[k] > biggest)
            biggest = ext[k];
    }
    if (!(biggest > 0)) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: the model is a single point", obj_path);
        goto out;
    }
    /* a flat axis cannot be stretched: keep the mean factor of the others */
    double sum = 0;
    int nflat = 0;
    for (int k = 0; k < 3; k++) {
        if (ext[k] > biggest * 1e-6) {
            r->scale[k] = o->dims_m[k] / ext[k];
            sum += r->scale[k];
        } else {
            nflat++;
        }
    }
    for (int k = 0; k < 3; k++)
        if (!(ext[k] > biggest * 1e-6))
            r->scale[k] = sum / (3 - nflat);
    double m[9], t[3];
    for (int rr = 0; rr < 3; rr++)
        for (int c = 0; c < 3; c++)
            m[3 * rr + c] = r->scale[rr] * rot[3 * rr + c];
    t[0] = -r->scale[0] * (mn[0] + mx[0]) / 2;
    t[1] = -r->scale[1] * mn[1];
    t[2] = -r->scale[2] * (mn[2] + mx[2]) / 2;
    apply_transform(sc, m, t);

    /* 3. post-process (aiApplyPostProcessing frees the scene on failure) */
    sc = aiApplyPostProcessing(sc, aiProcess_FindDegenerates | aiProcess_Triangulate |
                                       aiProcess_GenSmoothNormals |
                                       aiProcess_RemoveRedundantMaterials |
                                       aiProcess_EmbedTextures | aiProcess_ValidateDataStructure);
    if (!sc) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: libassimp post-processing failed", obj_path);
        goto out;
    }
    r->meshes = sc->mNumMeshes;

    /* 4. textures, materials, normals */
    r->images = share_textures(sc, &r->missing_textures);
    clamp_materials(sc);
    fix_normals(sc);

    /* 5. export, read back, compare */
    written = 1;  /* from here on a partial file may exist */
    if (aiExportScene(sc, "glb2", tmp, 0) != aiReturn_SUCCESS) {
        rc = vt_error_set(err, VT_EIO, "", "%s: libassimp could not write the GLB", tmp);
        goto out;
    }
    aiReleaseImport(sc);
    sc = NULL;
    struct vt_error back;
    if (vt_glb_check(tmp, o->dims_m, r, &back)) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: the written GLB does not read back: %s",
                          glb_path, back.message);
        goto out;
    }
    if (rename(tmp, glb_path) != 0) {
        rc = vt_error_set(err, VT_EIO, "", "%s: %s", glb_path, strerror(errno));
        goto out;
    }
    written = 0;
    rc = 0;
out:
    if (sc)
        aiReleaseImport(sc);
    if (ps)
        aiReleasePropertyStore(ps);
    if (written)
        remove(tmp);
    vt_free(tmp);
    return rc;
}
