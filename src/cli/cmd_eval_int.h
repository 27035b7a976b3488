/*
 * cmd_eval_int.h - private to `vitrine eval`: the data it reads
 * (cmd_eval_data.c) and what the evaluation (cmd_eval.c) takes from it.
 * cmd_eval.c states the protocol.
 */
#ifndef VT_CLI_CMD_EVAL_INT_H
#define VT_CLI_CMD_EVAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "rec/interactions.h"

#define POSITIVE_MIN 4.0 /* a rating at least this is a positive */

struct ev {
    int32_t user, item;
    int32_t type;
    float value;
    int64_t ts;
};

struct evlist {
    struct ev *v;
    size_t n, cap;
};

struct data {
    struct vt_idmap *items; /* ids in ascending byte order */
    struct vt_idmap *users; /* in order of first appearance */
    char **item_text;       /* per item: the text an encoder reads, or NULL */
    struct evlist train, test;
    int64_t rejected;       /* records left out, all files */
};

/* Append e to l. Returns 0 or VT_ENOMEM. */
int eval_evlist_push(struct evlist *l, const struct ev *e);
/* Frees what d holds and zeroes it. */
void eval_data_reset(struct data *d);
/* Read ITEMS, TRAIN and TEST (paths[0..2]) into d. Returns CLI_OK or the
 * command's exit code after printing the reason. */
int eval_read_data(struct cli *c, const char *paths[3], struct data *d);

#endif
