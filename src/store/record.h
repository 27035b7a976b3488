/*
 * record.h - the records vitrine keeps (items, users, events) and their
 * JSON form, with validation of everything that comes from outside.
 *
 * JSON shapes (snake_case) are those of docs/api.md:
 *   item  {"id","title":{"en","zh",..},"description":{..},"category","tags",
 *          "attributes","price","currency","stock","dims_cm":{"w","d","h"},
 *          "model_url","assets","hidden","created_at","updated_at"}
 *   event {"id","user_id","item_id","type","value","context","ts"}
 *   user  {"id","attributes","consent","created_at","updated_at"}
 *
 * Ownership: a struct owns every pointer in it (strings via vt_malloc, json_t
 * via a reference); *_reset() releases them and zeroes the struct. Validation
 * functions never keep a reference to their input. Thread-safe: no state.
 */
#ifndef VT_STORE_RECORD_H
#define VT_STORE_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_ID_MAX 128          /* bytes in an item, user or key id */
#define VT_PRICE_MAX 1e12
#define VT_DIM_MAX_CM 100000.0 /* 1 km: anything larger is a unit error */
#define VT_STOCK_MAX 1000000000000LL

/* Limits on outside input, filled from the configuration. */
struct vt_limits {
    size_t max_string_bytes;  /* any one string field */
    size_t max_context_bytes; /* an event's context, serialised */
};
void vt_limits_default(struct vt_limits *l);

/* ---- event types ---------------------------------------------------- */

enum vt_event_type {
    VT_EV_VIEW,
    VT_EV_CLICK,
    VT_EV_DWELL,        /* value = seconds */
    VT_EV_SEARCH,       /* context.text */
    VT_EV_ADD_TO_CART,
    VT_EV_PURCHASE,     /* value = quantity */
    VT_EV_RATING,       /* value 0.5 .. 5 */
    VT_EV_REVIEW,       /* context.text */
    VT_EV_DISMISS,      /* negative feedback */
    VT_EV_AR_SESSION,
    VT_EV_AR_PLACE,     /* context.surface = "floor" | "wall" | ... */
    VT_EV_AR_DWELL,     /* value = seconds */
    VT_EV_ROTATE,
    VT_EV_ZOOM,
    VT_EV_TRYON,
    VT_EV_SHOWROOM_VIEW,
    VT_EV_COUNT
};

struct vt_event_type_info {
    const char *name;         /* "ar_place": also the config key weight.<name> */
    int needs_item;           /* 1 if item_id is required */
    double value_min, value_max, value_default;
    const char *value_meaning;
};

const struct vt_event_type_info *vt_event_type_info(int type);
/* Returns the type, or VT_EINVAL for an unknown name. */
int vt_event_type_parse(const char *name);

/* ---- items ---------------------------------------------------------- */

struct vt_item {
    char *id;
    json_t *title;        /* object: language -> string; at least one entry */
    json_t *description;  /* object: language -> string, or NULL */
    char *category;       /* path "Living room/Sofas", or NULL */
    json_t *tags;         /* array of strings, or NULL */
    json_t *attributes;   /* object (colour, material, brand, sizes, ...), or NULL */
    double price;
    int has_price;
    char currency[4];     /* ISO 4217, "" when unset */
    int64_t stock;        /* -1 when not tracked */
    double dims_cm[3];    /* w, d, h */
    int has_dims;
    char *model_url;      /* URL or /assets/... path of the 3D model, or NULL */
    json_t *assets;       /* object of further asset references (poster, usdz,
                             credit, licence), or NULL */
    int hidden;
    int64_t created_ms, updated_ms;
};

void vt_item_init(struct vt_item *it);
void vt_item_reset(struct vt_item *it);
/* Deep copy; dst must be initialised or reset. */
int vt_item_copy(struct vt_item *dst, const struct vt_item *src);

/* Validate a JSON object as a new item. Unknown fields, wrong types, bad
 * ranges and over-long strings fail with VT_EINVAL/VT_ERANGE/VT_ETOOBIG and
 * the field path in err->field ("dims_cm.w", "title.en"). */
int vt_item_from_json(const json_t *j, const struct vt_limits *lim, struct vt_item *out,
                      struct vt_error *err);
/* Apply a PATCH object to an existing item (id may not change; null clears
 * an optional field). On error the item is unchanged. */
int vt_item_patch(struct vt_item *it, const json_t *patch, const struct vt_limits *lim,
                  struct vt_error *err);
/* New reference to a JSON object; NULL on out of memory. */
json_t *vt_item_to_json(const struct vt_item *it);

/* ---- users ---------------------------------------------------------- */

struct vt_user {
    char *id;
    json_t *attributes;  /* object or NULL */
    json_t *consent;     /* object of booleans: {"personalisation": true, "ar_space": false} */
    int64_t created_ms, updated_ms;
};

void vt_user_init(struct vt_user *u);
void vt_user_reset(struct vt_user *u);
/* Accepts {"attributes": {...}, "consent": {...}}; id comes from the URL. */
int vt_user_from_json(const char *id, const json_t *j, const struct vt_limits *lim,
                      struct vt_user *out, struct vt_error *err);
json_t *vt_user_to_json(const struct vt_user *u);

/* ---- events --------------------------------------------------------- */

struct vt_event {
    int64_t id;          /* assigned by the store, ascending; 0 before */
    char *user_id;
    char *item_id;       /* NULL when the event is not about an item */
    int type;            /* enum vt_event_type */
    double value;
    json_t *context;     /* object or NULL */
    int64_t ts_ms;       /* event time, ms since epoch */
};

void vt_event_init(struct vt_event *ev);
void vt_event_reset(struct vt_event *ev);
/* now_ms is used when "ts" is absent. */
int vt_event_from_json(const json_t *j, const struct vt_limits *lim, int64_t now_ms,
                       struct vt_event *out, struct vt_error *err);
json_t *vt_event_to_json(const struct vt_event *ev);

/* Check an id (item, user): non-empty, <= VT_ID_MAX bytes, valid UTF-8, no
 * control characters or '/'. field names it in the error. */
int vt_id_check(const char *id, const char *field, struct vt_error *err);

/* Free arrays returned by the store. */
void vt_items_free(struct vt_item *items, size_t n);
void vt_events_free(struct vt_event *evs, size_t n);

#endif
