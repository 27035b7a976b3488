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

#endif
