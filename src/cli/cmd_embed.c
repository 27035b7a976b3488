/*
 * cmd_embed.c - `vitrine embed`: texts to vectors as JSON Lines, or the
 * catalog re-embedded (--items); and the embedding step that follows
 * `vitrine import items` and `vitrine import sh3d`.
 *
 * Output of `vitrine embed TEXT...`: one JSON object per text, in order,
 *     {"text": "...", "ids": [...], "embedding": [...]}
 * "ids" (the model's token ids of what it read) only with --ids; floats
 * with 7 significant digits. With no TEXT, every line of standard input is
 * one text ("\n" or "\r\n" ends a line). Texts are embedded in batches of
 * BATCH and written as each batch is done, so a long input streams.
 *
 * After an import the catalog is synced (nn/item_embed.h) quietly: only the
 * progress bar shows, on a terminal, so the import's own report stays the
 * last line. No model installed means no embeddings, said only in the log;
 * a model that is there but does not load, or a failed sync, is one
 * warning line; neither changes the import's exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "nn/item_embed.h"
#include "text/pipeline.h"

#define BATCH 32

int cli_textenc_new(struct cli *c, struct vt_textenc **out)
{
    struct vt_textenc_config cfg;
    const char *model = cli_opt(c, "--model");
    memset(&cfg, 0, sizeof cfg);
    cfg.model = model ? model : vt_conf_str(c->conf, "model");
    cfg.text_dir = vt_conf_str(c->conf, "text_dir");
    cfg.bridge = vt_conf_int(c->conf, "bridge") != 0;
    if (model && !*model)
        return cli_usage_error(c, "--model needs a path");
    int rc = vt_textenc_new(&cfg, out);
    if (rc == VT_EINVAL)
        return cli_fail("the configuration names no model or no text_dir");
    if (rc)
        return cli_fail("out of memory");
    return CLI_OK;
}

/* ---- texts to JSON Lines ---------------------------------------------------- */

struct batch {
    char *text[BATCH];  /* as given */
    char *input[BATCH]; /* what the model reads */
    size_t n;
};

static void batch_reset(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        vt_free(b->text[i]);
        vt_free(b->input[i]);
    }
    b->n = 0;
}

static int put_json_string(struct vt_buf *b, const char *s)
{
    json_t *j = json_string(s);
    char *enc = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!enc)
        return VT_ENOMEM;
    int rc = vt_buf_puts(b, enc);
    vt_free(enc); /* json_dumps allocates through the project's allocator */
    return rc;
}

/* Embeds the batch and writes its lines. */
static int batch_flush(struct vt_textenc *te, struct batch *b, size_t dim, int with_ids)
{
    static const struct vt_textenc_opts as_is = {.no_bridge = 1};
    struct vt_error e;
    struct vt_buf line;
    float *v = NULL;
    int rc = CLI_OK;

    if (b->n == 0)
        return CLI_OK;
    vt_error_clear(&e);
    vt_buf_init(&line, 0);
    v = vt_calloc(b->n * dim, sizeof *v);
    if (!v) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if (vt_textenc_embed_prepared(te, (const char *const *)b->input, b->n, v, &e)) {
        rc = cli_fail("%s", e.message[0] ? e.message : vt_strerror(e.code));
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        int w = vt_buf_puts(&line, "{\"text\":");
        if (w == 0)
            w = put_json_string(&line, b->text[i]);
        if (w == 0 && with_ids) {
            int32_t *ids = NULL;
            size_t nids = 0;
            if (vt_textenc_tokenize(te, b->input[i], strlen(b->input[i]), &as_is, &ids, &nids,
                                    &e)) {
                rc = cli_fail("%s", e.message[0] ? e.message : vt_strerror(e.code));
                goto out;
            }
            w = vt_buf_puts(&line, ",\"ids\":[");
            for (size_t k = 0; w == 0 && k < nids; k++)
                w = vt_buf_printf(&line, "%s%d", k ? "," : "", (int)ids[k]);
            if (w == 0)
                w = vt_buf_puts(&line, "]");
            vt_free(ids);
        }
        if (w == 0)
            w = vt_buf_puts(&line, ",\"embedding\":[");
        for (size_t k = 0; w == 0 && k < dim; k++)
            w = vt_buf_printf(&line, "%s%.7g", k ? "," : "", (double)v[i * dim + k]);
        if (w == 0)
            w = vt_buf_puts(&line, "]}\n");
        if (w) {
            rc = cli_fail("out of memory");
            goto out;
        }
        fwrite(line.data, 1, line.len, stdout);
        line.len = 0;
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = cli_fail("writing standard output: %s", strerror(errno));
out:
    batch_reset(b);
    vt_buf_reset(&line);
    vt_free(v);
    return rc;
}

/* Adds one text to the batch (flushing it when full). what names the text
 * in errors ("text 2", "line 7"); a text that cannot be read stops the
 * command after the texts before it are written. */
static int batch_add(struct vt_textenc *te, struct batch *b, const char *text, size_t n,
                     const struct vt_textenc_opts *opts, size_t dim, int with_ids,
                     const char *what)
{
    struct vt_error e;
    char *input = NULL, *copy;
    vt_error_clear(&e);
    if (vt_textenc_prepare(te, text, n, opts, &input, NULL, NULL, &e)) {
        /* The texts before this one are still written. */
        int rc = batch_flush(te, b, dim, with_ids);
        if (rc)
            return rc;
        return cli_fail("%s: %s", what, e.message[0] ? e.message : vt_strerror(e.code));
    }
    copy = vt_strndup(text, n);
    if (!copy) {
        vt_free(input);
        return cli_fail("out of memory");
    }
    b->text[b->n] = copy;
    b->input[b->n++] = input;
    return b->n == BATCH ? batch_flush(te, b, dim, with_ids) : CLI_OK;
}

static int embed_texts(struct cli *c, struct vt_textenc *te)
{
    struct vt_textenc_opts opts = {.no_bridge = cli_opt(c, "--no-bridge") != NULL};
    int with_ids = cli_opt(c, "--ids") != NULL;
    struct vt_encoder_info info;
    struct vt_error e;
    struct batch b;
    char what[48];
    int rc = CLI_OK;

    vt_error_clear(&e);
    if (vt_textenc_info(te, &info, &e))
        return cli_fail("%s", e.message);
    memset(&b, 0, sizeof b);
    if (c->npos > 0) {
        for (int i = 0; i < c->npos && rc == CLI_OK; i++) {
            snprintf(what, sizeof what, "text %d", i + 1);
            rc = batch_add(te, &b, c->pos[i], strlen(c->pos[i]), &opts, info.dim, with_ids, what);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long long lineno = 0;
        while (rc == CLI_OK && (len = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            size_t n = (size_t)len;
            if (n > 0 && line[n - 1] == '\n')
                n--;
            if (n > 0 && line[n - 1] == '\r')
                n--;
            snprintf(what, sizeof what, "line %lld", lineno);
            rc = batch_add(te, &b, line, n, &opts, info.dim, with_ids, what);
        }
        if (rc == CLI_OK && ferror(stdin))
            rc = cli_fail("reading standard input: %s", strerror(errno));
        free(line); /* getline's buffer comes from the C library */
    }
    if (rc == CLI_OK)
        rc = batch_flush(te, &b, info.dim, with_ids);
    batch_reset(&b);
    return rc;
}

/* ---- the catalog ---------------------------------------------------------------- */

static int embed_items(struct cli *c, struct vt_textenc *te)
{
    struct vt_item_embed_options o;
    struct vt_item_embed_report r;
    struct vt_error e;
    int rc = cli_open_store(c, 0);
    if (rc)
        return rc;
    memset(&o, 0, sizeof o);
    o.progress = "embedding items";
    vt_error_clear(&e);
    if (vt_item_embed_sync(c->store, te, &o, &r, &e))
        return cli_fail("%s", e.message[0] ? e.message : vt_strerror(e.code));
    fprintf(stderr,
            "embedded %zu of %zu items (%zu vectors) with %s in %.1f s; %zu skipped, %lld vectors "
            "of other models deleted\n",
            r.items_embedded, r.items, r.texts_embedded, r.model_id, r.seconds, r.failed,
            (long long)r.pruned);
    return r.failed ? CLI_FAIL : CLI_OK;
}

int cmd_embed(struct cli *c)
{
    struct vt_textenc *te = NULL;
    int items = cli_opt(c, "--items") != NULL;
    if (items && c->npos > 0)
        return cli_usage_error(c, "--items embeds the catalog and takes no TEXT");
    if (items && (cli_opt(c, "--ids") || cli_opt(c, "--no-bridge")))
        return cli_usage_error(c, "--ids and --no-bridge are for texts, not with --items");
    int rc = cli_textenc_new(c, &te);
    if (rc)
        return rc;
    rc = items ? embed_items(c, te) : embed_texts(c, te);
    vt_textenc_free(te);
    return rc;
}

/* ---- after an import --------------------------------------------------------------- */

static int embed_after_import(struct cli *c, int status)
{
    struct vt_textenc *te = NULL;
    struct vt_item_embed_options o;
    struct vt_error e;
    struct stat st;

    if (status == CLI_USAGE || !c->store || vt_conf_int(c->conf, "embed_on_import") == 0)
        return status;
    const char *model = vt_conf_str(c->conf, "model");
    if (stat(model, &st) != 0) {
        vt_info("items not embedded: no model installed", "model=\"%s\"", model);
        return status;
    }
    if (cli_textenc_new(c, &te) != CLI_OK)
        return status;
    memset(&o, 0, sizeof o);
    o.progress = "embedding items";
    vt_error_clear(&e);
    if (vt_item_embed_sync(c->store, te, &o, NULL, &e))
        fprintf(stderr, "vitrine: warning: the items are stored but not embedded: %s (run "
                        "'vitrine embed --items' once fixed)\n",
                e.message[0] ? e.message : vt_strerror(e.code));
    vt_textenc_free(te);
    return status;
}

int cmd_import_items_embed(struct cli *c)
{
    return embed_after_import(c, cmd_import_items(c));
}

int cmd_import_sh3d_embed(struct cli *c)
{
    return embed_after_import(c, cmd_import_sh3d(c));
}
