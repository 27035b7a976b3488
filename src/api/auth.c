/*
 * auth.c - API keys: creation, checking, and a short-lived cache.
 *
 * Key text, 59 bytes:
 *   "vt_"  3 bytes
 *   id     12 lowercase hex digits (6 random bytes), stored in clear
 *   "_"    1 byte
 *   secret 43 base64url characters without padding (32 random bytes)
 * Only BLAKE2b-256(secret text) is stored; a check hashes what was
 * presented and compares the two hashes with sodium_memcmp, so the time
 * taken does not depend on how much of the secret was right. An unknown id
 * still pays for the hash.
 */
#include "api/auth.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

#define KEY_PREFIX "vt_"
#define ID_HEX 12
#define SECRET_BYTES 32
#define SECRET_CHARS 43 /* base64url of 32 bytes, no padding */
#define KEY_LEN (3 + ID_HEX + 1 + SECRET_CHARS)

static const char *scope_names[] = {"public", "read", "ingest", "admin"};

int vt_scope_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, scope_names[i]) == 0)
            return i;
    return VT_EINVAL;
}

const char *vt_scope_name(int scope)
{
    if (scope < VT_SCOPE_PUBLIC || scope > VT_SCOPE_ADMIN)
        return "none";
    return scope_names[scope];
}

static int sodium_ready(void)
{
    return sodium_init() < 0 ? VT_EINTERNAL : 0;
}

static void secret_hash(const char *secret, size_t n, unsigned char hash[32])
{
    crypto_generichash(hash, 32, (const unsigned char *)secret, n, NULL, 0);
}

int vt_auth_key_create(struct vt_store *s, int scope, const char *label, char *out,
                       struct vt_key *rec)
{
    if (scope < VT_SCOPE_PUBLIC || scope > VT_SCOPE_ADMIN)
        return VT_EINVAL;
    if (!label)
        label = "";
    struct vt_key k;
    memset(&k, 0, sizeof k);
    if (strlen(label) >= sizeof k.label)
        return VT_ETOOBIG;
    int rc = sodium_ready();
    if (rc)
        return rc;
    unsigned char raw[SECRET_BYTES], idraw[ID_HEX / 2];
    char secret[SECRET_CHARS + 1];
    /* Two tries: a clash of 48-bit random ids is possible, if unlikely. */
    for (int attempt = 0; attempt < 2; attempt++) {
        randombytes_buf(idraw, sizeof idraw);
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(k.id, sizeof k.id, idraw, sizeof idraw);
        sodium_bin2base64(secret, sizeof secret, raw, sizeof raw,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        secret_hash(secret, SECRET_CHARS, k.hash);
        k.scope = scope;
        memcpy(k.label, label, strlen(label) + 1);
        k.created_ms = vt_time_now_ms();
        k.revoked = 0;
        rc = vt_store_key_add(s, &k);
        if (rc != VT_ECONFLICT)
            break;
    }
    if (rc == 0) {
        snprintf(out, VT_KEY_MAX, KEY_PREFIX "%s_%s", k.id, secret);
        if (rec)
            *rec = k;
    }
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

/* Split a presented key into id and secret; 0 or VT_EAUTH. */
static int key_split(const char *key, char id[24], const char **secret)
{
    if (!key || strlen(key) != KEY_LEN || memcmp(key, KEY_PREFIX, 3) != 0 ||
        key[3 + ID_HEX] != '_')
        return VT_EAUTH;
    for (int i = 0; i < ID_HEX; i++) {
        char c = key[3 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return VT_EAUTH;
    }
    const char *sec = key + 3 + ID_HEX + 1;
    for (int i = 0; i < SECRET_CHARS; i++) {
        char c = sec[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return VT_EAUTH;
    }
    memcpy(id, key + 3, ID_HEX);
    id[ID_HEX] = '\0';
    *secret = sec;
    return 0;
}

/* Compare a presented secret with a key record; 0 and *scope, or VT_EAUTH. */
static int key_match(const struct vt_key *k, const char *secret, int *scope)
{
    unsigned char h[32];
    secret_hash(secret, SECRET_CHARS, h);
    int same = sodium_memcmp(h, k->hash, sizeof h) == 0;
    if (!same || k->revoked)
        return VT_EAUTH;
    if (scope)
        *scope = k->scope;
    return 0;
}

int vt_auth_key_check(struct vt_store *s, const char *key, int *scope, char id_out[24])
{
    return vt_auth_key_check_cached(NULL, s, key, scope, id_out);
}

/* ---- cache ------------------------------------------------------------ */

#define CACHE_SLOTS 256 /* direct-mapped by a hash of the id */

struct cache_slot {
    struct vt_key key;
    int64_t expires_ms; /* 0 = empty */
};

struct vt_auth_cache {
    pthread_mutex_t mu;
    int64_t ttl_ms;
    struct cache_slot slots[CACHE_SLOTS];
};

int vt_auth_cache_new(int64_t ttl_ms, struct vt_auth_cache **out)
{
    int rc = sodium_ready();
    if (rc)
        return rc;
    struct vt_auth_cache *c = vt_calloc(1, sizeof *c);
    if (!c)
        return VT_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->ttl_ms = ttl_ms;
    *out = c;
    return 0;
}

void vt_auth_cache_free(struct vt_auth_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    sodium_memzero(c->slots, sizeof c->slots);
    vt_free(c);
}

static size_t slot_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % CACHE_SLOTS;
}

void vt_auth_cache_forget(struct vt_auth_cache *c, const char *id)
{
    if (!c || !id)
        return;
    struct cache_slot *sl = &c->slots[slot_of(id)];
    pthread_mutex_lock(&c->mu);
    if (sl->expires_ms && strcmp(sl->key.id, id) == 0)
        sl->expires_ms = 0;
    pthread_mutex_unlock(&c->mu);
}

int vt_auth_key_check_cached(struct vt_auth_cache *c, struct vt_store *s, const char *key,
                             int *scope, char id_out[24])
{
    char id[24];
    const char *secret;
    int rc = sodium_ready();
    if (rc)
        return rc;
    if (key_split(key, id, &secret)) {
        /* Same work as a real check, so malformed keys do not answer faster. */
        unsigned char h[32];
        secret_hash(key ? key : "", key ? strnlen(key, VT_KEY_MAX) : 0, h);
        return VT_EAUTH;
    }
    struct vt_key k;
    int hit = 0;
    int64_t now = vt_time_now_ms();
    if (c) {
        struct cache_slot *sl = &c->slots[slot_of(id)];
        pthread_mutex_lock(&c->mu);
        if (sl->expires_ms > now && strcmp(sl->key.id, id) == 0) {
            k = sl->key;
            hit = 1;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (!hit) {
        rc = vt_store_key_get(s, id, &k);
        if (rc == VT_ENOTFOUND) {
            unsigned char h[32];
            secret_hash(secret, SECRET_CHARS, h);
            return VT_EAUTH;
        }
        if (rc)
            return rc;
        if (c) {
            struct cache_slot *sl = &c->slots[slot_of(id)];
            pthread_mutex_lock(&c->mu);
            sl->key = k;
            sl->expires_ms = now + c->ttl_ms;
            pthread_mutex_unlock(&c->mu);
        }
    }
    rc = key_match(&k, secret, scope);
    if (rc == 0 && id_out)
        memcpy(id_out, id, strlen(id) + 1);
    return rc;
}
