/* conf.c - the declared configuration keys, file parsing and env overrides. */
#include "core/conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* The one table of configuration keys. Types are implied by the default:
 * keys read with vt_conf_int/double must have numeric defaults. Event
 * weights are "weight.<type>" for every event type of the store. */
static const struct vt_conf_key keys[] = {
    {"listen", "127.0.0.1:8080", "address and port the HTTP server listens on"},
    {"db", "./vitrine.db", "database: a SQLite file path"},
    {"data_dir", "./data", "folder for demo data and converted 3D assets (served at /assets/)"},
    {"web_dir", "./web", "folder of the storefront served at /"},
    {"model", "./data/models/use-lite",
     "sentence encoder: a USE-Lite folder (model.json), a BERT folder (config.json) or a "
     ".gguf file"},
    {"bridge", "1",
     "1: Chinese text reaches a model without Chinese pieces through the Chinese-to-English "
     "bridge; 0: as it is"},
    {"text_dir", "./data/text", "folder of the text data: jieba/dict.txt, jieba/idf.txt, "
                                "cedict/cedict_ts.u8"},
    {"embed_on_import", "1",
     "1: embed new and changed items right after vitrine import; 0: leave it to vitrine embed "
     "--items or the next server start"},
    {"log_level", "info", "debug, info, warn, error or off"},
    {"threads", "32", "HTTP worker threads (a handler waits for its durable commit, so keep several per core)"},
    {"compute_threads", "0", "threads for encoder and vector math (0 = one per CPU, at most 8)"},
    {"encode_batch", "8", "calls to the text model of at most this many texts are gathered with concurrent ones into one batch (0 = never)"},
    {"http.timeout_s", "30", "close HTTP connections idle for this many seconds (0 = never)"},
    {"shutdown_grace_s", "10", "on SIGTERM, wait this long for requests in progress to finish"},
    {"max_body_bytes", "8388608", "largest request body accepted (413 beyond)"},
    {"max_batch_events", "10000", "most events in one POST /v1/events (413 beyond)"},
    {"max_batch_items", "1000", "most items in one POST /v1/items (413 beyond)"},
    {"max_string_bytes", "16384", "longest string field accepted in an item or event"},
    {"group_commit_us", "2000", "longest wait to gather events into one durable commit"},
    {"rate.public_rps", "20", "requests per second allowed per client address with a public key"},
    {"rate.public_burst", "60", "burst size for public keys"},
    {"rate.ingest_rps", "0", "requests per second per ingest key (0 = unlimited)"},
    {"cache.static_max_age", "3600", "Cache-Control max-age for static files, seconds"},
    {"weight.view", "1", "default weight of a view event"},
    {"weight.click", "2", "default weight of a click"},
    {"weight.dwell", "0.05", "weight per second of dwell"},
    {"weight.search", "0.5", "weight of a search"},
    {"weight.add_to_cart", "5", "weight of add_to_cart"},
    {"weight.purchase", "10", "weight per unit purchased"},
    {"weight.rating", "1", "weight per rating point above 2.5 (below counts negative)"},
    {"weight.review", "3", "weight of a review"},
    {"weight.dismiss", "-5", "weight of a dismiss (negative feedback)"},
    {"weight.ar_session", "3", "weight of starting AR on an item"},
    {"weight.ar_place", "6", "weight of placing an item in the room"},
    {"weight.ar_dwell", "0.1", "weight per second in AR"},
    {"weight.rotate", "1", "weight of rotating the 3D model"},
    {"weight.zoom", "1", "weight of zooming the 3D model"},
    {"weight.tryon", "6", "weight of a virtual try-on"},
    {"weight.showroom_view", "1.5", "weight of viewing the item in the virtual showroom"},
    {"rec.retrain_interval_s", "3600", "rebuild the models and retrain the ranker this often, seconds (0 = only on demand)"},
    {"rec.rebuild_debounce_s", "2", "after a catalog change, wait this long for more before rebuilding the catalog index"},
    {"rec.session_half_life_s", "1800", "half-life of a shopper's session interest, seconds"},
    {"rec.exploration", "0.05", "share of a recommendation list given to exploration (0 = none)"},
    {"rec.diversity", "0.3", "MMR trade-off between relevance and variety in a list (0 = relevance only)"},
    {"rec.category_cap", "4", "most items of one category in a recommendation list (0 = no cap)"},
    {"rec.repurchase_categories", "", "comma list of category prefixes whose purchased items may be recommended again"},
    {"rec.online_learning_rate", "0.02", "step size of the ranker's online update after each event batch (0 = off)"},
    {"rec.label_window_s", "1800", "an engagement this soon after an impression labels it positive, seconds"},
    {"rec.impressions_keep_days", "90", "delete logged impressions older than this, days (0 = keep them all)"},
    {"rec.ials_factors", "64", "factors of the iALS model"},
    {"rec.ials_iterations", "10", "iALS iterations per retrain"},
    {"search.semantic_weight", "0.5", "weight of semantic similarity against BM25 in search, 0..1"},
    {"similar.content_weight", "0.6", "weight of content similarity against co-interaction in similar items, 0..1"},
    {"storefront.currency", "CNY", "currency GET /v1/storefront tells the pages (the demo catalog's prices are CNY)"},
    {"fit.clearance_cm", "2", "clearance a piece needs on each side to fit a space, centimetres"},
    {NULL, NULL, NULL},
};

#define NKEYS (sizeof keys / sizeof keys[0] - 1)

struct vt_conf {
    char *values[NKEYS];
};

const struct vt_conf_key *vt_conf_keys(void) { return keys; }

static int key_index(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int is_numeric_key(int i)
{
    char *end;
    errno = 0;
    strtod(keys[i].def, &end);
    return *end == '\0' && keys[i].def[0] != '\0';
}

static int check_value(int i, const char *value)
{
    if (!is_numeric_key(i))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno == ERANGE || v != v)
        return VT_EINVAL;
    return 0;
}

int vt_conf_set(struct vt_conf *c, const char *key, const char *value)
{
    int i = key_index(key);
    if (i < 0)
        return VT_ENOTFOUND;
    if (check_value(i, value))
        return VT_EINVAL;
    char *v = vt_strdup(value);
    if (!v)
        return VT_ENOMEM;
    vt_free(c->values[i]);
    c->values[i] = v;
    return 0;
}

static void env_name(const char *key, char *out, size_t outsz)
{
    size_t n = (size_t)snprintf(out, outsz, "VITRINE_");
    for (const char *p = key; *p && n + 1 < outsz; p++)
        out[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static int apply_env(struct vt_conf *c, struct vt_error *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char name[96];
        env_name(keys[i].key, name, sizeof name);
        const char *v = getenv(name);
        if (!v)
            continue;
        int rc = vt_conf_set(c, keys[i].key, v);
        if (rc)
            return vt_error_set(err, rc, keys[i].key, "environment %s: '%s' is not a number", name,
                                v);
    }
    return 0;
}

static int conf_new(struct vt_conf **out)
{
    struct vt_conf *c = vt_calloc(1, sizeof *c);
    if (!c)
        return VT_ENOMEM;
    for (size_t i = 0; i < NKEYS; i++) {
        c->values[i] = vt_strdup(keys[i].def);
        if (!c->values[i]) {
            vt_conf_free(c);
            return VT_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

int vt_conf_defaults(struct vt_conf **out)
{
    int rc = conf_new(out);
    if (rc)
        return rc;
    /* Environment values that fail to parse are ignored here; vt_conf_load
     * reports them. */
    apply_env(*out, NULL);
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int vt_conf_load(const char *path, int required, struct vt_conf **out, struct vt_error *err)
{
    struct vt_conf *c;
    int rc = conf_new(&c);
    if (rc)
        return rc;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f && required) {
        rc = vt_error_set(err, VT_EIO, "", "%s: %s", path ? path : "(none)", strerror(errno));
        goto out;
    }
    char line[4096];
    int lineno = 0;
    while (f && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = vt_error_set(err, VT_EPARSE, "", "%s:%d: line longer than %zu bytes", path, lineno,
                              sizeof line - 1);
            goto out;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = vt_error_set(err, VT_EPARSE, "", "%s:%d: expected 'key = value'", path, lineno);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int r = vt_conf_set(c, key, value);
        if (r == VT_ENOTFOUND) {
            rc = vt_error_set(err, VT_EINVAL, key, "%s:%d: unknown key '%s'", path, lineno, key);
            goto out;
        } else if (r == VT_EINVAL) {
            rc = vt_error_set(err, VT_EINVAL, key, "%s:%d: '%s' needs a number, not '%s'", path,
                              lineno, key, value);
            goto out;
        } else if (r) {
            rc = r;
            goto out;
        }
        if (err)
            err->line = lineno;
    }
    rc = apply_env(c, err);
out:
    if (f)
        fclose(f);
    if (rc) {
        vt_conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void vt_conf_free(struct vt_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        vt_free(c->values[i]);
    vt_free(c);
}

const char *vt_conf_str(const struct vt_conf *c, const char *key)
{
    int i = key_index(key);
    assert(i >= 0 && "undeclared configuration key");
    return c->values[i];
}

int64_t vt_conf_int(const struct vt_conf *c, const char *key)
{
    return (int64_t)strtod(vt_conf_str(c, key), NULL);
}

double vt_conf_double(const struct vt_conf *c, const char *key)
{
    return strtod(vt_conf_str(c, key), NULL);
}

void vt_conf_dump(const struct vt_conf *c, FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(f, "# %s (default %s)\n%s = %s\n", keys[i].help, keys[i].def, keys[i].key,
                c->values[i]);
}
