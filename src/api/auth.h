/*
 * auth.h - API keys.
 *
 * A key reads "vt_<id>_<secret>": <id> (12 lowercase hex) is stored in
 * clear and shown in lists; <secret> (32 random bytes, base64url) is only
 * ever stored as a BLAKE2b-256 hash and compared in constant time.
 * Keys have one scope: public < read < ingest < admin (see docs/api.md for
 * what each may do).
 */
#ifndef VT_API_AUTH_H
#define VT_API_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/store.h"

#define VT_KEY_MAX 96  /* bytes needed to hold a key and its NUL */

/* "public", "read", "ingest", "admin" -> enum vt_scope, or VT_EINVAL. */
int vt_scope_parse(const char *name);
const char *vt_scope_name(int scope);

/* Create, store and return a new key in out (VT_KEY_MAX bytes). The secret
 * is not kept anywhere: the caller shows it once. */
int vt_auth_key_create(struct vt_store *s, int scope, const char *label, char *out,
                       struct vt_key *rec);

/* Check a presented key. 0 and *scope on success; VT_EAUTH when unknown,
 * malformed or revoked. Constant-time in the secret. */
int vt_auth_key_check(struct vt_store *s, const char *key, int *scope, char id_out[24]);

/* A short-lived cache of key records, so that the server does not read the
 * store on every request. Entries live ttl_ms (a key revoked elsewhere
 * stops working within that time); vt_auth_cache_forget() drops one at
 * once (revocation through the API). The presented secret is hashed and
 * compared on every check. Thread-safe; vt_auth_cache_free(NULL) is a
 * no-op. */
struct vt_auth_cache;
int vt_auth_cache_new(int64_t ttl_ms, struct vt_auth_cache **out);
void vt_auth_cache_free(struct vt_auth_cache *c);
void vt_auth_cache_forget(struct vt_auth_cache *c, const char *id);
/* vt_auth_key_check() through the cache (c may be NULL: no cache). */
int vt_auth_key_check_cached(struct vt_auth_cache *c, struct vt_store *s, const char *key,
                             int *scope, char id_out[24]);

#endif
