/*
 * store_embed.c - the item-embedding functions of the store interface:
 * argument checks that do not depend on the back-end, then dispatch to
 * s->ops (as store.c does for the rest of store.h).
 *
 * Checked here: ids are 1..VT_ID_MAX bytes, language tags 1..VT_LANG_MAX
 * bytes of ASCII letters, digits and '-', model ids 1..VT_MODEL_ID_MAX
 * bytes without control characters, dimensions 1..VT_EMBED_DIM_MAX with a
 * vector present, page sizes 1..VT_STORE_PAGE_MAX. Back-ends may rely on
 * these checks.
 */
#include <assert.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store_int.h"

/* 1 if s is non-empty, NUL-terminated within max + 1 bytes. */
static int str_ok(const char *s, size_t max)
{
    return s && s[0] && strnlen(s, max + 1) <= max;
}

static int lang_ok(const char *s)
{
    if (!str_ok(s, VT_LANG_MAX))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return 0;
    return 1;
}

static int model_id_ok(const char *s)
{
    if (!str_ok(s, VT_MODEL_ID_MAX))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

void vt_embeddings_free(struct vt_embedding *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        vt_free(v[i].vector);
    vt_free(v);
}

void vt_ids_free(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        vt_free(ids[i]);
    vt_free(ids);
}

int vt_store_embeddings_put(struct vt_store *s, const struct vt_embedding *v, size_t n,
                            size_t *bad, struct vt_error *err)
{
    assert(s);
    vt_error_clear(err);
    if (n == 0)
        return 0;
    if (!v)
        return vt_error_set(err, VT_EINVAL, NULL, "no embeddings given");
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL;
        if (!str_ok(v[i].item_id, VT_ID_MAX))
            field = "item_id";
        else if (!lang_ok(v[i].lang))
            field = "lang";
        else if (!model_id_ok(v[i].model_id))
            field = "model_id";
        else if (v[i].dim < 1 || v[i].dim > VT_EMBED_DIM_MAX || !v[i].vector)
            field = "dim";
        if (field) {
            if (bad)
                *bad = i;
            return vt_error_set(err, VT_EINVAL, field, "embedding %zu: invalid %s", i, field);
        }
    }
    return s->ops->embeddings_put(s->impl, v, n, bad, err);
}

int vt_store_item_embeddings(struct vt_store *s, const char *item_id,
                             struct vt_embedding **out, size_t *n)
{
    assert(s && out && n);
    *out = NULL;
    *n = 0;
    if (!str_ok(item_id, VT_ID_MAX))
        return VT_EINVAL;
    return s->ops->item_embeddings(s->impl, item_id, out, n);
}

int vt_store_embeddings_scan(struct vt_store *s, const char *model_id, const char *after_item,
                             const char *after_lang, size_t limit, struct vt_embedding **out,
                             size_t *n, int *more)
{
    assert(s && out && n && more);
    *out = NULL;
    *n = 0;
    *more = 0;
    if (!model_id_ok(model_id))
        return VT_EINVAL;
    if (limit < 1 || limit > VT_STORE_PAGE_MAX)
        return VT_ERANGE;
    if (after_item && strnlen(after_item, VT_ID_MAX + 1) > VT_ID_MAX)
        return VT_EINVAL;
    if (after_lang && strnlen(after_lang, VT_LANG_MAX + 1) > VT_LANG_MAX)
        return VT_EINVAL;
    return s->ops->embeddings_scan(s->impl, model_id, after_item ? after_item : "",
                                   after_lang ? after_lang : "", limit, out, n, more);
}

int vt_store_embeddings_stale(struct vt_store *s, const char *model_id,
                              const struct vt_embedding_ref *refs, size_t n, uint8_t *stale)
{
    assert(s);
    if (n == 0)
        return 0;
    if (!model_id_ok(model_id) || !refs || !stale)
        return VT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!str_ok(refs[i].item_id, VT_ID_MAX) || !lang_ok(refs[i].lang))
            return VT_EINVAL;
    return s->ops->embeddings_stale(s->impl, model_id, refs, n, stale);
}

int vt_store_embeddings_missing(struct vt_store *s, const char *model_id, const char *after_id,
                                size_t limit, char ***ids, size_t *n, int *more)
{
    assert(s && ids && n && more);
    *ids = NULL;
    *n = 0;
    *more = 0;
    if (!model_id_ok(model_id))
        return VT_EINVAL;
    if (limit < 1 || limit > VT_STORE_PAGE_MAX)
        return VT_ERANGE;
    if (after_id && strnlen(after_id, VT_ID_MAX + 1) > VT_ID_MAX)
        return VT_EINVAL;
    return s->ops->embeddings_missing(s->impl, model_id, after_id ? after_id : "", limit, ids,
                                      n, more);
}

int vt_store_embeddings_count(struct vt_store *s, const char *model_id, int64_t *count)
{
    assert(s && count);
    *count = 0;
    if (!model_id_ok(model_id))
        return VT_EINVAL;
    return s->ops->embeddings_count(s->impl, model_id, count);
}

int vt_store_embeddings_prune(struct vt_store *s, const char *keep_model_id, int64_t *deleted)
{
    assert(s);
    if (deleted)
        *deleted = 0;
    if (!model_id_ok(keep_model_id))
        return VT_EINVAL;
    return s->ops->embeddings_prune(s->impl, keep_model_id, deleted);
}
