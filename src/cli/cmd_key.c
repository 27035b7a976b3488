/*
 * cmd_key.c - `vitrine key create|list|revoke`.
 *
 * A new key goes to standard output alone on its line, so that
 * KEY=$(vitrine key create --scope ingest) works; everything said about it
 * goes to standard error. Lists show the public id only: the secret is not
 * stored anywhere to show.
 */
#include <stdio.h>
#include <string.h>

#include "api/auth.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/util.h"

int cmd_key_create(struct cli *c)
{
    const char *scope_name = cli_opt(c, "--scope");
    const char *label = cli_opt(c, "--label");
    if (!scope_name)
        return cli_usage_error(c, "--scope is required: admin, ingest, read or public");
    int scope = vt_scope_parse(scope_name);
    if (scope < 0)
        return cli_usage_error(c, "--scope must be admin, ingest, read or public, not '%.40s'",
                               scope_name);
    if (label) {
        size_t n = strlen(label), bad;
        if (n >= sizeof ((struct vt_key *)0)->label)
            return cli_fail("--label is %zu bytes; the limit is %zu", n,
                            sizeof ((struct vt_key *)0)->label - 1);
        if (!vt_utf8_valid(label, n, &bad))
            return cli_fail("--label is not valid UTF-8 (byte %zu)", bad);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
                return cli_fail("--label must not contain control characters");
    }
    int rc = cli_open_store(c, 0);
    if (rc)
        return rc;
    char key[VT_KEY_MAX];
    struct vt_key rec;
    memset(&rec, 0, sizeof rec);
    rc = vt_auth_key_create(c->store, scope, label ? label : "", key, &rec);
    if (rc)
        return cli_fail("cannot create the key: %s", vt_strerror(rc));
    fprintf(stderr,
            "Created %s key %s%s%s%s. Store it now: it is shown only this once and cannot be "
            "recovered.\n",
            vt_scope_name(scope), rec.id, label && *label ? " (" : "", label ? label : "",
            label && *label ? ")" : "");
    printf("%s\n", key);
    return CLI_OK;
}

/* Print s with control characters as '?', so a label cannot break the table. */
static void put_clean(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

int cmd_key_list(struct cli *c)
{
    int rc = cli_open_store(c, 1);
    if (rc)
        return rc;
    struct vt_key *keys = NULL;
    size_t n = 0;
    rc = vt_store_key_list(c->store, &keys, &n);
    if (rc)
        return cli_fail("cannot list keys: %s", vt_strerror(rc));
    if (n == 0) {
        fprintf(stderr, "No API keys yet; create one with: vitrine key create --scope admin\n");
        vt_free(keys);
        return CLI_OK;
    }
    printf("%-14s %-7s %-24s %-7s %s\n", "ID", "SCOPE", "CREATED", "REVOKED", "LABEL");
    for (size_t i = 0; i < n; i++) {
        char created[40];
        vt_time_format_iso(keys[i].created_ms, created, sizeof created);
        printf("%-14s %-7s %-24s %-7s ", keys[i].id, vt_scope_name(keys[i].scope), created,
               keys[i].revoked ? "yes" : "no");
        put_clean(keys[i].label[0] ? keys[i].label : "-");
        putchar('\n');
    }
    vt_free(keys);
    return CLI_OK;
}

int cmd_key_revoke(struct cli *c)
{
    /* Accept the id or the whole key "vt_<id>_<secret>" as pasted. */
    char id[24];
    const char *arg = c->pos[0];
    if (strncmp(arg, "vt_", 3) == 0 && strchr(arg + 3, '_')) {
        size_t n = (size_t)(strchr(arg + 3, '_') - (arg + 3));
        if (n >= sizeof id)
            return cli_fail("'%.40s' is not a key id", arg);
        memcpy(id, arg + 3, n);
        id[n] = '\0';
    } else {
        if (strlen(arg) >= sizeof id || !*arg)
            return cli_fail("'%.40s' is not a key id (see vitrine key list)", arg);
        snprintf(id, sizeof id, "%s", arg);
    }
    int rc = cli_open_store(c, 0);
    if (rc)
        return rc;
    struct vt_key k;
    rc = vt_store_key_get(c->store, id, &k);
    if (rc == VT_ENOTFOUND)
        return cli_fail("no key with id '%s' (see vitrine key list)", id);
    if (rc)
        return cli_fail("cannot read key '%s': %s", id, vt_strerror(rc));
    if (k.revoked) {
        fprintf(stderr, "Key %s was already revoked.\n", id);
        return CLI_OK;
    }
    rc = vt_store_key_revoke(c->store, id);
    if (rc == VT_ENOTFOUND)
        return cli_fail("no key with id '%s' (see vitrine key list)", id);
    if (rc)
        return cli_fail("cannot revoke key '%s': %s", id, vt_strerror(rc));
    fprintf(stderr, "Revoked %s key %s.\n", vt_scope_name(k.scope), id);
    return CLI_OK;
}
