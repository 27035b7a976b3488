/*
 * api_session.c - anonymous storefront sessions.
 *
 * A storefront page holds a public key, which may send events only for the
 * anonymous shopper it was given. POST /v1/session issues
 *   user_id       "anon_" + 32 lowercase hex (16 random bytes)
 *   session_token user_id + "." + base64url(HMAC-SHA256(server key,
 *                 "vitrine-session-v1:" + user_id)), no padding
 * The server key is 32 random bytes kept hex-encoded in the store's
 * metadata ("session_hmac_key"), created on the first start, so tokens stay
 * valid across restarts. Tokens do not expire; rotating the key (deleting
 * the metadata entry) invalidates them all.
 */
#include <sodium.h>
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"

#define META_NAME "session_hmac_key"
#define ANON_PREFIX "anon_"
#define ANON_HEX 32
#define MAC_CHARS 43 /* base64url of 32 bytes */
#define USER_LEN (sizeof ANON_PREFIX - 1 + ANON_HEX)

int api_session_key_load(struct vt_store *s, unsigned char key[32], struct vt_error *err)
{
    char *hex = NULL;
    size_t len = 0;
    int rc = vt_store_meta_get(s, META_NAME, &hex, &len);
    if (rc == 0) {
        size_t got = 0;
        int bad = len != 64 || sodium_hex2bin(key, 32, hex, len, NULL, &got, NULL) != 0 ||
                  got != 32;
        sodium_memzero(hex, len);
        vt_free(hex);
        if (!bad)
            return 0;
        return vt_error_set(err, VT_EFORMAT, NULL,
                            "the stored session key is damaged (metadata '%s')", META_NAME);
    }
    if (rc != VT_ENOTFOUND)
        return vt_error_set(err, rc, NULL, "reading the session key: %s", vt_strerror(rc));
    char buf[65];
    randombytes_buf(key, 32);
    sodium_bin2hex(buf, sizeof buf, key, 32);
    rc = vt_store_meta_put(s, META_NAME, buf, 64);
    sodium_memzero(buf, sizeof buf);
    if (rc)
        return vt_error_set(err, rc, NULL, "storing the session key: %s", vt_strerror(rc));
    return 0;
}

static void session_mac(const unsigned char key[32], const char *user, char out[MAC_CHARS + 1])
{
    static const char domain[] = "vitrine-session-v1:";
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)domain, sizeof domain - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)user, strlen(user));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(out, MAC_CHARS + 1, mac, sizeof mac,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int api_session_check(const unsigned char key[32], const char *token, char *user, size_t usersz)
{
    if (!token || strlen(token) != USER_LEN + 1 + MAC_CHARS || token[USER_LEN] != '.' ||
        memcmp(token, ANON_PREFIX, sizeof ANON_PREFIX - 1) != 0 || usersz <= USER_LEN)
        return VT_EFORBIDDEN;
    for (size_t i = sizeof ANON_PREFIX - 1; i < USER_LEN; i++) {
        char c = token[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return VT_EFORBIDDEN;
    }
    char id[USER_LEN + 1], mac[MAC_CHARS + 1];
    memcpy(id, token, USER_LEN);
    id[USER_LEN] = '\0';
    session_mac(key, id, mac);
    if (sodium_memcmp(mac, token + USER_LEN + 1, MAC_CHARS) != 0)
        return VT_EFORBIDDEN;
    memcpy(user, id, USER_LEN + 1);
    return 0;
}

/* POST /v1/session: a new anonymous shopper. No body. */
void api_h_session_new(struct api_req *r)
{
    unsigned char raw[ANON_HEX / 2];
    char user[USER_LEN + 1], mac[MAC_CHARS + 1], token[USER_LEN + 1 + MAC_CHARS + 1];
    randombytes_buf(raw, sizeof raw);
    memcpy(user, ANON_PREFIX, sizeof ANON_PREFIX - 1);
    sodium_bin2hex(user + sizeof ANON_PREFIX - 1, ANON_HEX + 1, raw, sizeof raw);
    session_mac(r->srv->session_key, user, mac);
    snprintf(token, sizeof token, "%s.%s", user, mac);
    api_reply_json(r, MHD_HTTP_CREATED,
                   json_pack("{s:s,s:s}", "user_id", user, "session_token", token));
}
