/*
 * cmd_train.c - `vitrine train`: rebuild the models and retrain the ranker
 * on the logged impressions, as POST /v1/admin/retrain does in a running
 * server, then print the report (docs/ranker.md explains it). The engine
 * runs without its background thread and without a text model: the
 * ranker learns from the features stored with each impression.
 *
 * Exit status: 0 when the retrain ran, whether the new ranker was accepted
 * (and saved for the next server start) or refused with its reason; 1
 * when it could not run (no database, a database error, out of memory).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "rec/engine.h"

/* "0.8123" or "-" for a missing or null number. */
static const char *fmt_num(const json_t *o, const char *key, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return "-";
    snprintf(buf, n, "%.4f", json_number_value(v));
    return buf;
}

static void print_eval(const char *label, const json_t *ev)
{
    char a[32], l[32];
    if (!json_is_object(ev)) {
        printf("  %-16s -\n", label);
        return;
    }
    printf("  %-16s AUC %s  log loss %s  (%lld examples, %lld engaged)\n", label,
           fmt_num(ev, "auc", a, sizeof a), fmt_num(ev, "logloss", l, sizeof l),
           (long long)json_integer_value(json_object_get(ev, "examples")),
           (long long)json_integer_value(json_object_get(ev, "positives")));
}

static void print_weights(const json_t *group)
{
    const char *name;
    json_t *w;
    json_object_foreach(json_object_get(group, "weights"), name, w)
        printf("    %-14s %+.4f\n", name, json_number_value(w));
    printf("    %-14s %+.4f\n", "(bias)", json_number_value(json_object_get(group, "bias")));
}

static void print_table(const json_t *rep)
{
    const json_t *sk = json_object_get(rep, "skipped"), *model = json_object_get(rep, "model");
    printf("ranker: %s\n", json_is_true(json_object_get(rep, "accepted")) ? "accepted" : "refused");
    printf("  %-16s %s\n", "reason", json_string_value(json_object_get(rep, "reason")));
    printf("  %-16s %lld (%lld engaged), %lld for training, the newest %lld held out\n",
           "examples", (long long)json_integer_value(json_object_get(rep, "examples")),
           (long long)json_integer_value(json_object_get(rep, "positives")),
           (long long)json_integer_value(json_object_get(rep, "train_examples")),
           (long long)(json_integer_value(json_object_get(rep, "examples")) -
                       json_integer_value(json_object_get(rep, "train_examples"))));
    if (json_is_object(sk))
        printf("  %-16s %lld awaiting their label, %lld with other features\n", "skipped",
               (long long)json_integer_value(json_object_get(sk, "label_pending")),
               (long long)json_integer_value(json_object_get(sk, "other_features")));
    print_eval("new model", json_object_get(rep, "validation"));
    print_eval("serving model", json_object_get(rep, "serving"));
    if (json_is_object(model)) {
        char a[32], b[32];
        printf("  %-16s alpha %s  beta %s\n", "weights",
               fmt_num(model, "alpha", a, sizeof a), fmt_num(model, "beta", b, sizeof b));
        printf("   interest:\n");
        print_weights(json_object_get(model, "interest"));
        printf("   AR:\n");
        print_weights(json_object_get(model, "ar"));
    }
    if (json_is_number(json_object_get(rep, "seconds")))
        printf("  %-16s %.2f\n", "seconds", json_number_value(json_object_get(rep, "seconds")));
}

int cmd_train(struct cli *c)
{
    struct vt_engine_options opt = {0};
    struct vt_engine *e = NULL;
    json_t *rep = NULL;
    struct vt_error err;
    int rc = cli_open_store(c, 0);

    if (rc)
        return rc;
    opt.no_thread = 1;
    opt.progress = 1;
    vt_error_clear(&err);
    rc = vt_engine_new(c->conf, c->store, NULL, &opt, &e, &err);
    if (rc)
        return cli_fail("starting the engine: %s", err.message[0] ? err.message : vt_strerror(rc));
    vt_error_clear(&err);
    rc = vt_engine_retrain(e, &rep, &err);
    vt_engine_free(e);
    if (rc) {
        json_decref(rep);
        return cli_fail("retraining: %s", err.message[0] ? err.message : vt_strerror(rc));
    }
    if (!rep)
        return cli_fail("retraining gave no report");
    if (json_is_string(json_object_get(rep, "ranker_error"))) {
        rc = cli_fail("the ranker was not retrained: %s",
                      json_string_value(json_object_get(rep, "ranker_error")));
        json_decref(rep);
        return rc;
    }
    if (cli_opt(c, "--json")) {
        char *s = json_dumps(rep, JSON_COMPACT);
        if (!s) {
            json_decref(rep);
            return cli_fail("out of memory");
        }
        puts(s);
        vt_free(s); /* json_dumps allocates through the project's allocator */
    } else {
        print_table(rep);
    }
    json_decref(rep);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_fail("writing standard output: %s", strerror(errno));
    return CLI_OK;
}
