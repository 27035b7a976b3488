/*
 * api_storefront.c - the storefront's own public key: GET /v1/storefront.
 *
 * The pages under web/ are plain files, so they learn the key they call the
 * API with from the server: GET /v1/storefront (no key) answers
 *   {"public_key": "vt_...", "languages": ["en", "zh"], "currency": "CNY"}
 * The key has scope public, the scope meant to be embedded in pages (like a
 * publishable key): it reads the catalogue and recommendations and sends
 * events for the one anonymous session it is given. It is created on the
 * first start and kept in the store's metadata ("storefront_key") so pages
 * cached by shoppers keep working across restarts. If an operator revokes it
 * (or the entry is damaged), the next start creates a new one; until then
 * GET /v1/storefront answers 503 rather than hand out a dead key.
 */
#include <sodium.h>
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define META_NAME "storefront_key"

/* A new public key, stored in the metadata; out holds VT_KEY_MAX bytes. */
static int key_create(struct vt_store *s, char *out, struct vt_error *err)
{
    struct vt_key rec;
    int rc = vt_auth_key_create(s, VT_SCOPE_PUBLIC, "storefront", out, &rec);
    if (rc)
        return vt_error_set(err, rc, NULL, "creating the storefront key: %s", vt_strerror(rc));
    rc = vt_store_meta_put(s, META_NAME, out, strlen(out));
    if (rc)
        return vt_error_set(err, rc, NULL, "storing the storefront key: %s", vt_strerror(rc));
    vt_info("created the storefront's public key", "key_id=%s", rec.id);
    return 0;
}

int api_storefront_key_load(struct vt_store *s, char key[VT_KEY_MAX], struct vt_error *err)
{
    char *stored = NULL;
    size_t len = 0;
    int rc = vt_store_meta_get(s, META_NAME, &stored, &len);
    if (rc == VT_ENOTFOUND)
        return key_create(s, key, err);
    if (rc)
        return vt_error_set(err, rc, NULL, "reading the storefront key: %s", vt_strerror(rc));
    int usable = 0;
    if (len > 0 && len < VT_KEY_MAX && memchr(stored, '\0', len) == NULL) {
        memcpy(key, stored, len);
        key[len] = '\0';
        int scope;
        char id[24];
        rc = vt_auth_key_check(s, key, &scope, id);
        if (rc == 0 && scope == VT_SCOPE_PUBLIC)
            usable = 1;
        else if (rc && rc != VT_EAUTH) {
            vt_free(stored);
            return vt_error_set(err, rc, NULL, "checking the storefront key: %s",
                                vt_strerror(rc));
        }
    }
    vt_free(stored);
    if (usable)
        return 0;
    vt_warn("the stored storefront key is revoked, unknown or damaged: creating a new one",
            "meta=%s", META_NAME);
    return key_create(s, key, err);
}

/* GET /v1/storefront: no key needed (this is how pages get theirs). */
void api_h_storefront(struct api_req *r)
{
    struct api_server *srv = r->srv;
    if (!srv->storefront_key[0]) {
        api_reply_error(r, VT_EUNAVAIL, NULL, "the storefront key is not loaded");
        return;
    }
    int scope;
    char id[24];
    int rc = vt_auth_key_check_cached(srv->keys, srv->store, srv->storefront_key, &scope, id);
    if (rc == VT_EAUTH) {
        api_reply_error(r, VT_EUNAVAIL, NULL, "the storefront key was revoked; restart the "
                        "server to create a new one");
        return;
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "checking the storefront key: %s", vt_strerror(rc));
        return;
    }
    const char *cur = vt_conf_str(srv->conf, "storefront.currency");
    json_t *j = json_pack("{s:s,s:[s,s],s:s}", "public_key", srv->storefront_key, "languages",
                          "en", "zh", "currency", cur && cur[0] ? cur : "CNY");
    api_reply_json(r, MHD_HTTP_OK, j);
}
