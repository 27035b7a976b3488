/*
 * record.c - items, users and events: validation of outside JSON and the
 * JSON form of stored records.
 *
 * Every record that enters vitrine (API body, import file line, CSV row
 * turned into JSON) passes through *_from_json here, so the rules live in
 * one place: ids <= VT_ID_MAX bytes without control characters or '/',
 * strings valid UTF-8 without NUL and under the configured length, numbers
 * finite and in range, no unknown fields. Errors name the field by its path.
 * Read-only fields that the server writes (created_at, updated_at, an
 * event's id) are accepted and ignored, so exported records import again.
 */
#include "store/record.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

#define MAX_TAGS 100
#define MAX_URL 2048
#define MAX_LANG 8

void vt_limits_default(struct vt_limits *l)
{
    l->max_string_bytes = 16384;
    l->max_context_bytes = 16384;
}

/* ---- event types ------------------------------------------------------ */

/* value_default NAN means the value is required. */
static const struct vt_event_type_info event_types[VT_EV_COUNT] = {
    [VT_EV_VIEW] = {"view", 1, 0, 1e6, 1, "count"},
    [VT_EV_CLICK] = {"click", 1, 0, 1e6, 1, "count"},
    [VT_EV_DWELL] = {"dwell", 1, 0, 86400, NAN, "seconds on the item"},
    [VT_EV_SEARCH] = {"search", 0, 0, 1e6, 1, "count; context.text holds the query"},
    [VT_EV_ADD_TO_CART] = {"add_to_cart", 1, 0, 1e6, 1, "quantity"},
    [VT_EV_PURCHASE] = {"purchase", 1, 1, 1e6, 1, "quantity"},
    [VT_EV_RATING] = {"rating", 1, 0.5, 5, NAN, "stars, 0.5 to 5"},
    [VT_EV_REVIEW] = {"review", 1, 0, 1e6, 1, "count; context.text holds the review"},
    [VT_EV_DISMISS] = {"dismiss", 1, 0, 1e6, 1, "count (negative feedback)"},
    [VT_EV_AR_SESSION] = {"ar_session", 1, 0, 1e6, 1, "count"},
    [VT_EV_AR_PLACE] = {"ar_place", 1, 0, 1e6, 1, "count; context.surface floor|wall"},
    [VT_EV_AR_DWELL] = {"ar_dwell", 1, 0, 86400, NAN, "seconds in AR"},
    [VT_EV_ROTATE] = {"rotate", 1, 0, 1e6, 1, "count"},
    [VT_EV_ZOOM] = {"zoom", 1, 0, 1e6, 1, "count"},
    [VT_EV_TRYON] = {"tryon", 1, 0, 1e6, 1, "count"},
    [VT_EV_SHOWROOM_VIEW] = {"showroom_view", 1, 0, 1e6, 1, "count"},
};

const struct vt_event_type_info *vt_event_type_info(int type)
{
    if (type < 0 || type >= VT_EV_COUNT)
        return NULL;
    return &event_types[type];
}

int vt_event_type_parse(const char *name)
{
    for (int i = 0; i < VT_EV_COUNT; i++)
        if (strcmp(event_types[i].name, name) == 0)
            return i;
    return VT_EINVAL;
}

/* ---- field checks ------------------------------------------------------ */

static void list_types(char *out, size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < VT_EV_COUNT && n < outsz; i++)
        n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? ", " : "", event_types[i].name);
}

int vt_id_check(const char *id, const char *field, struct vt_error *err)
{
    size_t n = strlen(id), bad;
    if (n == 0)
        return vt_error_set(err, VT_EINVAL, field, "%s must not be empty", field);
    if (n > VT_ID_MAX)
        return vt_error_set(err, VT_EINVAL, field, "%s is %zu bytes; the limit is %d", field, n,
                            VT_ID_MAX);
    if (!vt_utf8_valid(id, n, &bad))
        return vt_error_set(err, VT_EINVAL, field, "%s is not valid UTF-8 (byte %zu)", field, bad);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7F)
            return vt_error_set(err, VT_EINVAL, field, "%s contains a control character", field);
        if (c == '/')
            return vt_error_set(err, VT_EINVAL, field, "%s must not contain '/'", field);
    }
    return 0;
}

/* A string value: UTF-8 without NUL, within the limit. */
static int check_string(const json_t *v, const char *field, size_t max, struct vt_error *err)
{
    if (!json_is_string(v))
        return vt_error_set(err, VT_EINVAL, field, "%s must be a string", field);
    size_t n = json_string_length(v), bad;
    if (n > max)
        return vt_error_set(err, VT_ETOOBIG, field, "%s is %zu bytes; the limit is %zu", field, n,
                            max);
    if (!vt_utf8_valid(json_string_value(v), n, &bad))
        return vt_error_set(err, VT_EINVAL, field,
                            "%s is not valid UTF-8 or contains NUL (byte %zu)", field, bad);
    return 0;
}

/* Walk any JSON value: every string and key valid, total size bounded. */
static int check_tree(const json_t *v, const char *field, size_t max, size_t *budget, int depth,
                      struct vt_error *err)
{
    if (depth > 16)
        return vt_error_set(err, VT_EINVAL, field, "%s is nested deeper than 16 levels", field);
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (n > *budget)
            return vt_error_set(err, VT_ETOOBIG, field, "%s is larger than %zu bytes", field, max);
        *budget -= n;
        return check_string(v, field, max, err);
    }
    if (json_is_real(v) && !isfinite(json_real_value(v)))
        return vt_error_set(err, VT_ERANGE, field, "%s holds a number that is not finite", field);
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            size_t kn = strlen(k);
            if (kn + 8 > *budget)
                return vt_error_set(err, VT_ETOOBIG, field, "%s is larger than %zu bytes", field,
                                    max);
            *budget -= kn + 8;
            int rc = check_tree(x, field, max, budget, depth + 1, err);
            if (rc)
                return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (*budget < 8)
                return vt_error_set(err, VT_ETOOBIG, field, "%s is larger than %zu bytes", field,
                                    max);
            *budget -= 8;
            int rc = check_tree(x, field, max, budget, depth + 1, err);
            if (rc)
                return rc;
        }
    } else if (*budget >= 8) {
        *budget -= 8;
    } else {
        return vt_error_set(err, VT_ETOOBIG, field, "%s is larger than %zu bytes", field, max);
    }
    return 0;
}

static int check_object_tree(const json_t *v, const char *field, size_t max, struct vt_error *err)
{
    if (!json_is_object(v))
        return vt_error_set(err, VT_EINVAL, field, "%s must be an object", field);
    size_t budget = max;
    return check_tree(v, field, max, &budget, 0, err);
}

/* {"en": "...", "zh": "..."}: language tags of letters and '-'. */
static int check_lang_map(const json_t *v, const char *field, size_t max, int need_one,
                          struct vt_error *err)
{
    if (!json_is_object(v))
        return vt_error_set(err, VT_EINVAL, field,
                            "%s must be an object of language -> text, e.g. {\"en\": \"...\"}",
                            field);
    const char *lang;
    json_t *text;
    int nonempty = 0;
    json_object_foreach((json_t *)v, lang, text)
    {
        char path[64];
        snprintf(path, sizeof path, "%s.%.*s", field, MAX_LANG + 2, lang);
        size_t ln = strlen(lang);
        int ok = ln >= 2 && ln <= MAX_LANG;
        for (size_t i = 0; ok && i < ln; i++)
            ok = (lang[i] >= 'a' && lang[i] <= 'z') || (lang[i] >= 'A' && lang[i] <= 'Z') ||
                 lang[i] == '-' || lang[i] == '_';
        if (!ok)
            return vt_error_set(err, VT_EINVAL, field,
                                "%s: '%.*s' is not a language tag (like \"en\" or \"zh\")", field,
                                MAX_LANG + 2, lang);
        int rc = check_string(text, path, max, err);
        if (rc)
            return rc;
        if (json_string_length(text) > 0)
            nonempty = 1;
    }
    if (need_one && !nonempty)
        return vt_error_set(err, VT_EINVAL, field, "%s needs at least one non-empty language",
                            field);
    return 0;
}

static int get_number(const json_t *v, const char *field, double lo, double hi, double *out,
                      struct vt_error *err)
{
    if (!json_is_number(v))
        return vt_error_set(err, VT_EINVAL, field, "%s must be a number", field);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return vt_error_set(err, VT_ERANGE, field, "%s = %g is out of range [%g, %g]", field, d,
                            lo, hi);
    *out = d;
    return 0;
}

static int is_readonly_key(const char *k)
{
    return strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0;
}

static json_t *jcopy(const json_t *v)
{
    return v ? json_deep_copy(v) : NULL;
}

/* ---- items ------------------------------------------------------------- */

void vt_item_init(struct vt_item *it)
{
    memset(it, 0, sizeof *it);
    it->stock = -1;
}

void vt_item_reset(struct vt_item *it)
{
    if (!it)
        return;
    vt_free(it->id);
    json_decref(it->title);
    json_decref(it->description);
    vt_free(it->category);
    json_decref(it->tags);
    json_decref(it->attributes);
    vt_free(it->model_url);
    json_decref(it->assets);
    vt_item_init(it);
}

int vt_item_copy(struct vt_item *dst, const struct vt_item *src)
{
    vt_item_reset(dst);
    *dst = *src;
    dst->id = vt_strdup(src->id);
    dst->category = vt_strdup(src->category);
    dst->model_url = vt_strdup(src->model_url);
    dst->title = jcopy(src->title);
    dst->description = jcopy(src->description);
    dst->tags = jcopy(src->tags);
    dst->attributes = jcopy(src->attributes);
    dst->assets = jcopy(src->assets);
    if ((src->id && !dst->id) || (src->category && !dst->category) ||
        (src->model_url && !dst->model_url) || (src->title && !dst->title) ||
        (src->description && !dst->description) || (src->tags && !dst->tags) ||
        (src->attributes && !dst->attributes) || (src->assets && !dst->assets)) {
        vt_item_reset(dst);
        return VT_ENOMEM;
    }
    return 0;
}

static int item_field(struct vt_item *it, const char *k, const json_t *v,
                      const struct vt_limits *lim, struct vt_error *err)
{
    size_t max = lim->max_string_bytes;
    int rc;
    if (strcmp(k, "id") == 0) {
        if (!json_is_string(v))
            return vt_error_set(err, VT_EINVAL, "id", "id must be a string");
        if (json_string_length(v) != strlen(json_string_value(v)))
            return vt_error_set(err, VT_EINVAL, "id", "id must not contain NUL");
        if ((rc = vt_id_check(json_string_value(v), "id", err)))
            return rc;
        it->id = vt_strdup(json_string_value(v));
        return it->id ? 0 : VT_ENOMEM;
    }
    if (strcmp(k, "title") == 0) {
        if ((rc = check_lang_map(v, "title", max, 1, err)))
            return rc;
        it->title = json_deep_copy(v);
        return it->title ? 0 : VT_ENOMEM;
    }
    if (is_readonly_key(k))
        return 0;
    if (json_is_null(v))
        return 0; /* optional field explicitly unset */
    if (strcmp(k, "description") == 0) {
        if ((rc = check_lang_map(v, "description", max, 0, err)))
            return rc;
        it->description = json_deep_copy(v);
        return it->description ? 0 : VT_ENOMEM;
    }
    if (strcmp(k, "category") == 0) {
        if ((rc = check_string(v, "category", 1024, err)))
            return rc;
        const char *c = json_string_value(v);
        if (c[0] == '/' || (c[0] && c[strlen(c) - 1] == '/') || strstr(c, "//"))
            return vt_error_set(err, VT_EINVAL, "category",
                                "category is a path like \"Living room/Sofas\" without empty parts");
        it->category = c[0] ? vt_strdup(c) : NULL;
        return c[0] && !it->category ? VT_ENOMEM : 0;
    }
    if (strcmp(k, "tags") == 0) {
        if (!json_is_array(v))
            return vt_error_set(err, VT_EINVAL, "tags", "tags must be an array of strings");
        if (json_array_size(v) > MAX_TAGS)
            return vt_error_set(err, VT_ETOOBIG, "tags", "at most %d tags", MAX_TAGS);
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            if ((rc = check_string(t, "tags", 256, err)))
                return rc;
        }
        it->tags = json_deep_copy(v);
        return it->tags ? 0 : VT_ENOMEM;
    }
    if (strcmp(k, "attributes") == 0 || strcmp(k, "assets") == 0) {
        if ((rc = check_object_tree(v, k, max, err)))
            return rc;
        json_t *c = json_deep_copy(v);
        if (!c)
            return VT_ENOMEM;
        if (k[1] == 't')
            it->attributes = c;
        else
            it->assets = c;
        return 0;
    }
    if (strcmp(k, "price") == 0) {
        if ((rc = get_number(v, "price", 0, VT_PRICE_MAX, &it->price, err)))
            return rc;
        it->has_price = 1;
        return 0;
    }
    if (strcmp(k, "currency") == 0) {
        const char *c = json_is_string(v) ? json_string_value(v) : "";
        if (strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
            c[2] < 'A' || c[2] > 'Z')
            return vt_error_set(err, VT_EINVAL, "currency",
                                "currency must be a three-letter ISO 4217 code like \"CNY\"");
        memcpy(it->currency, c, 4);
        return 0;
    }
    if (strcmp(k, "stock") == 0) {
        if (!json_is_integer(v))
            return vt_error_set(err, VT_EINVAL, "stock", "stock must be a whole number");
        json_int_t s = json_integer_value(v);
        if (s < 0 || s > VT_STOCK_MAX)
            return vt_error_set(err, VT_ERANGE, "stock", "stock = %lld is out of range [0, %lld]",
                                (long long)s, (long long)VT_STOCK_MAX);
        it->stock = s;
        return 0;
    }
    if (strcmp(k, "dims_cm") == 0) {
        if (!json_is_object(v))
            return vt_error_set(err, VT_EINVAL, "dims_cm",
                                "dims_cm must be an object {\"w\", \"d\", \"h\"} in centimetres");
        static const char *axes[3] = {"w", "d", "h"};
        const char *ak;
        json_t *av;
        json_object_foreach((json_t *)v, ak, av)
        {
            if (strcmp(ak, "w") && strcmp(ak, "d") && strcmp(ak, "h"))
                return vt_error_set(err, VT_EINVAL, "dims_cm",
                                    "dims_cm has unknown field '%.32s' (expected w, d, h)", ak);
        }
        for (int a = 0; a < 3; a++) {
            char path[16];
            snprintf(path, sizeof path, "dims_cm.%s", axes[a]);
            json_t *x = json_object_get(v, axes[a]);
            if (!x)
                return vt_error_set(err, VT_EINVAL, path, "%s is missing", path);
            if ((rc = get_number(x, path, 0, VT_DIM_MAX_CM, &it->dims_cm[a], err)))
                return rc;
            if (it->dims_cm[a] <= 0)
                return vt_error_set(err, VT_ERANGE, path, "%s must be greater than 0", path);
        }
        it->has_dims = 1;
        return 0;
    }
    if (strcmp(k, "model_url") == 0) {
        if ((rc = check_string(v, "model_url", MAX_URL, err)))
            return rc;
        const char *u = json_string_value(v);
        if (u[0] != '/' && strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
            return vt_error_set(err, VT_EINVAL, "model_url",
                                "model_url must be an absolute path (/assets/...) or http(s) URL");
        for (const char *p = u; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7F)
                return vt_error_set(err, VT_EINVAL, "model_url",
                                    "model_url must not contain spaces or control characters");
        it->model_url = vt_strdup(u);
        return it->model_url ? 0 : VT_ENOMEM;
    }
    if (strcmp(k, "hidden") == 0) {
        if (!json_is_boolean(v))
            return vt_error_set(err, VT_EINVAL, "hidden", "hidden must be true or false");
        it->hidden = json_is_true(v);
        return 0;
    }
    return vt_error_set(err, VT_EINVAL, k, "unknown field '%.64s' in item", k);
}

int vt_item_from_json(const json_t *j, const struct vt_limits *lim, struct vt_item *out,
                      struct vt_error *err)
{
    struct vt_limits dl;
    if (!lim) {
        vt_limits_default(&dl);
        lim = &dl;
    }
    vt_item_init(out);
    if (!json_is_object(j))
        return vt_error_set(err, VT_EINVAL, "", "an item must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        int rc = item_field(out, k, v, lim, err);
        if (rc) {
            vt_item_reset(out);
            return rc;
        }
    }
    if (!out->id) {
        vt_item_reset(out);
        return vt_error_set(err, VT_EINVAL, "id", "id is required");
    }
    if (!out->title) {
        vt_item_reset(out);
        return vt_error_set(err, VT_EINVAL, "title",
                            "title is required, e.g. {\"en\": \"Sofa\", \"zh\": \"沙发\"}");
    }
    if (out->has_price && !out->currency[0])
        memcpy(out->currency, "CNY", 4);
    return 0;
}

static json_t *iso(int64_t ms)
{
    char s[40];
    vt_time_format_iso(ms, s, sizeof s);
    return json_string(s);
}

static json_t *ref_or_null(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *vt_item_to_json(const struct vt_item *it)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_string(it->id ? it->id : ""));
    bad |= json_object_set_new(o, "title", it->title ? json_incref(it->title) : json_object());
    bad |= json_object_set_new(o, "description", ref_or_null(it->description));
    bad |= json_object_set_new(o, "category", str_or_null(it->category));
    bad |= json_object_set_new(o, "tags", it->tags ? json_incref(it->tags) : json_array());
    bad |= json_object_set_new(o, "attributes",
                               it->attributes ? json_incref(it->attributes) : json_object());
    bad |= json_object_set_new(o, "price", it->has_price ? json_real(it->price) : json_null());
    bad |= json_object_set_new(o, "currency", str_or_null(it->currency[0] ? it->currency : NULL));
    bad |= json_object_set_new(o, "stock", it->stock >= 0 ? json_integer(it->stock) : json_null());
    if (it->has_dims)
        bad |= json_object_set_new(o, "dims_cm",
                                   json_pack("{s:f,s:f,s:f}", "w", it->dims_cm[0], "d",
                                             it->dims_cm[1], "h", it->dims_cm[2]));
    else
        bad |= json_object_set_new(o, "dims_cm", json_null());
    bad |= json_object_set_new(o, "model_url", str_or_null(it->model_url));
    bad |= json_object_set_new(o, "assets", ref_or_null(it->assets));
    bad |= json_object_set_new(o, "hidden", json_boolean(it->hidden));
    bad |= json_object_set_new(o, "created_at", iso(it->created_ms));
    bad |= json_object_set_new(o, "updated_at", iso(it->updated_ms));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* RFC 7396 JSON Merge Patch of patch into target (modified in place). */
static int merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
            continue;
        }
        json_t *cur = json_object_get(target, k);
        if (json_is_object(v) && json_is_object(cur)) {
            if (merge_patch(cur, v))
                return -1;
        } else if (json_object_set_new(target, k, json_deep_copy(v))) {
            return -1;
        }
    }
    return 0;
}

int vt_item_patch(struct vt_item *it, const json_t *patch, const struct vt_limits *lim,
                  struct vt_error *err)
{
    if (!json_is_object(patch))
        return vt_error_set(err, VT_EINVAL, "", "a PATCH body must be a JSON object");
    json_t *id = json_object_get(patch, "id");
    if (id && !(json_is_string(id) && strcmp(json_string_value(id), it->id) == 0))
        return vt_error_set(err, VT_EINVAL, "id", "an item's id cannot change");
    if (json_is_null(json_object_get(patch, "title")))
        return vt_error_set(err, VT_EINVAL, "title", "title cannot be removed");
    json_t *merged = vt_item_to_json(it);
    if (!merged)
        return VT_ENOMEM;
    /* Nulls in the stored form mean "unset"; drop them so the merge result
     * only holds what is set. */
    json_t *d = json_deep_copy(merged);
    json_decref(merged);
    if (!d)
        return VT_ENOMEM;
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(d, tmp, k, v)
    {
        if (json_is_null(v))
            json_object_del(d, k);
    }
    struct vt_item next;
    int rc = merge_patch(d, patch) ? VT_ENOMEM : vt_item_from_json(d, lim, &next, err);
    json_decref(d);
    if (rc)
        return rc;
    next.created_ms = it->created_ms;
    next.updated_ms = it->updated_ms;
    vt_item_reset(it);
    *it = next;
    return 0;
}

void vt_items_free(struct vt_item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        vt_item_reset(&items[i]);
    vt_free(items);
}

/* ---- users ------------------------------------------------------------- */

void vt_user_init(struct vt_user *u) { memset(u, 0, sizeof *u); }

void vt_user_reset(struct vt_user *u)
{
    if (!u)
        return;
    vt_free(u->id);
    json_decref(u->attributes);
    json_decref(u->consent);
    vt_user_init(u);
}

int vt_user_from_json(const char *id, const json_t *j, const struct vt_limits *lim,
                      struct vt_user *out, struct vt_error *err)
{
    struct vt_limits dl;
    if (!lim) {
        vt_limits_default(&dl);
        lim = &dl;
    }
    vt_user_init(out);
    int rc = vt_id_check(id, "user_id", err);
    if (rc)
        return rc;
    if (!json_is_object(j))
        return vt_error_set(err, VT_EINVAL, "", "a user must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        if (strcmp(k, "id") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), id) != 0) {
                rc = vt_error_set(err, VT_EINVAL, "id", "id in the body differs from the URL");
                goto fail;
            }
        } else if (is_readonly_key(k)) {
            continue;
        } else if (strcmp(k, "attributes") == 0) {
            if (json_is_null(v))
                continue;
            if ((rc = check_object_tree(v, "attributes", lim->max_string_bytes, err)))
                goto fail;
            out->attributes = json_deep_copy(v);
            if (!out->attributes) {
                rc = VT_ENOMEM;
                goto fail;
            }
        } else if (strcmp(k, "consent") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_object(v)) {
                rc = vt_error_set(err, VT_EINVAL, "consent",
                                  "consent must be an object of flags, e.g. {\"personalisation\": true}");
                goto fail;
            }
            const char *ck;
            json_t *cv;
            json_object_foreach(v, ck, cv)
            {
                if (!json_is_boolean(cv) || strlen(ck) > 64) {
                    rc = vt_error_set(err, VT_EINVAL, "consent",
                                      "consent.%.64s must be true or false", ck);
                    goto fail;
                }
            }
            out->consent = json_deep_copy(v);
            if (!out->consent) {
                rc = VT_ENOMEM;
                goto fail;
            }
        } else {
            rc = vt_error_set(err, VT_EINVAL, k, "unknown field '%.64s' in user", k);
            goto fail;
        }
    }
    out->id = vt_strdup(id);
    if (!out->id) {
        rc = VT_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    vt_user_reset(out);
    return rc;
}

json_t *vt_user_to_json(const struct vt_user *u)
{
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "id", u->id ? u->id : "", "attributes",
                     u->attributes ? json_incref(u->attributes) : json_object(), "consent",
                     u->consent ? json_incref(u->consent) : json_object(), "created_at",
                     iso(u->created_ms),
                     "updated_at", iso(u->updated_ms));
}

/* ---- events ------------------------------------------------------------ */

void vt_event_init(struct vt_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = -1;
}

void vt_event_reset(struct vt_event *ev)
{
    if (!ev)
        return;
    vt_free(ev->user_id);
    vt_free(ev->item_id);
    json_decref(ev->context);
    vt_event_init(ev);
}

int vt_event_from_json(const json_t *j, const struct vt_limits *lim, int64_t now_ms,
                       struct vt_event *out, struct vt_error *err)
{
    struct vt_limits dl;
    if (!lim) {
        vt_limits_default(&dl);
        lim = &dl;
    }
    vt_event_init(out);
    if (!json_is_object(j))
        return vt_error_set(err, VT_EINVAL, "", "an event must be a JSON object");
    int rc = 0, have_value = 0, have_ts = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        if (strcmp(k, "user_id") == 0 || strcmp(k, "item_id") == 0) {
            if (json_is_null(v) && k[0] == 'i')
                continue;
            if (!json_is_string(v)) {
                rc = vt_error_set(err, VT_EINVAL, k, "%s must be a string", k);
                goto fail;
            }
            if (json_string_length(v) != strlen(json_string_value(v))) {
                rc = vt_error_set(err, VT_EINVAL, k, "%s must not contain NUL", k);
                goto fail;
            }
            if ((rc = vt_id_check(json_string_value(v), k, err)))
                goto fail;
            char **dst = k[0] == 'u' ? &out->user_id : &out->item_id;
            *dst = vt_strdup(json_string_value(v));
            if (!*dst) {
                rc = VT_ENOMEM;
                goto fail;
            }
        } else if (strcmp(k, "type") == 0) {
            if (!json_is_string(v)) {
                rc = vt_error_set(err, VT_EINVAL, "type", "type must be a string");
                goto fail;
            }
            out->type = vt_event_type_parse(json_string_value(v));
            if (out->type < 0) {
                char names[512];
                list_types(names, sizeof names);
                rc = vt_error_set(err, VT_EINVAL, "type",
                                  "unknown event type '%.40s'; known types: %s",
                                  json_string_value(v), names);
                goto fail;
            }
        } else if (strcmp(k, "value") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_number(v) || !isfinite(json_number_value(v))) {
                rc = vt_error_set(err, VT_EINVAL, "value", "value must be a number");
                goto fail;
            }
            out->value = json_number_value(v);
            have_value = 1;
        } else if (strcmp(k, "context") == 0) {
            if (json_is_null(v))
                continue;
            if ((rc = check_object_tree(v, "context", lim->max_context_bytes, err)))
                goto fail;
            out->context = json_deep_copy(v);
            if (!out->context) {
                rc = VT_ENOMEM;
                goto fail;
            }
        } else if (strcmp(k, "ts") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v) || vt_time_parse_iso(json_string_value(v), &out->ts_ms)) {
                rc = vt_error_set(err, VT_EINVAL, "ts",
                                  "ts must be an ISO-8601 time like \"2026-11-22T19:20:01Z\"");
                goto fail;
            }
            have_ts = 1;
        } else if (strcmp(k, "id") == 0) {
            continue; /* assigned by the store; accepted so exports re-import */
        } else {
            rc = vt_error_set(err, VT_EINVAL, k, "unknown field '%.64s' in event", k);
            goto fail;
        }
    }
    if (!out->user_id) {
        rc = vt_error_set(err, VT_EINVAL, "user_id", "user_id is required");
        goto fail;
    }
    if (out->type < 0) {
        rc = vt_error_set(err, VT_EINVAL, "type", "type is required");
        goto fail;
    }
    const struct vt_event_type_info *ti = &event_types[out->type];
    if (ti->needs_item && !out->item_id) {
        rc = vt_error_set(err, VT_EINVAL, "item_id", "a %s event needs item_id", ti->name);
        goto fail;
    }
    if (!have_value) {
        if (isnan(ti->value_default)) {
            rc = vt_error_set(err, VT_EINVAL, "value", "a %s event needs value (%s)", ti->name,
                              ti->value_meaning);
            goto fail;
        }
        out->value = ti->value_default;
    }
    if (out->value < ti->value_min || out->value > ti->value_max) {
        rc = vt_error_set(err, VT_ERANGE, "value", "value %g of a %s event is out of range [%g, %g]",
                          out->value, ti->name, ti->value_min, ti->value_max);
        goto fail;
    }
    if ((out->type == VT_EV_SEARCH || out->type == VT_EV_REVIEW) &&
        !json_is_string(json_object_get(out->context, "text"))) {
        rc = vt_error_set(err, VT_EINVAL, "context.text", "a %s event needs context.text",
                          ti->name);
        goto fail;
    }
    if (!have_ts)
        out->ts_ms = now_ms;
    else if (out->ts_ms < 0 || out->ts_ms > now_ms + 86400000LL) {
        rc = vt_error_set(err, VT_ERANGE, "ts", "ts is before 1970 or more than a day ahead");
        goto fail;
    }
    return 0;
fail:
    vt_event_reset(out);
    return rc;
}

json_t *vt_event_to_json(const struct vt_event *ev)
{
    const struct vt_event_type_info *ti = vt_event_type_info(ev->type);
    return json_pack("{s:I,s:s,s:o,s:s,s:f,s:o,s:o}", "id", (json_int_t)ev->id, "user_id",
                     ev->user_id ? ev->user_id : "", "item_id", str_or_null(ev->item_id), "type",
                     ti ? ti->name : "unknown", "value", ev->value, "context",
                     ev->context ? json_incref(ev->context) : json_null(), "ts", iso(ev->ts_ms));
}

void vt_events_free(struct vt_event *evs, size_t n)
{
    if (!evs)
        return;
    for (size_t i = 0; i < n; i++)
        vt_event_reset(&evs[i]);
    vt_free(evs);
}
