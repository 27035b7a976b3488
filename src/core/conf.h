/*
 * conf.h - vitrine.conf: one "key = value" per line, '#' starts a comment.
 *
 * Every key the program knows is declared once in conf.c with its default
 * and a one-line description (docs/configuration.md mirrors that table;
 * `vitrine config` prints it). An unknown key in the file is an error with
 * its line number. The environment overrides the file: key "weight.view"
 * is read from VITRINE_WEIGHT_VIEW, "listen" from VITRINE_LISTEN.
 *
 * A loaded struct vt_conf is read-only and safe to share between threads.
 */
#ifndef VT_CORE_CONF_H
#define VT_CORE_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

struct vt_conf;

struct vt_conf_key {
    const char *key;
    const char *def;    /* default value as text */
    const char *help;
};

/* Load path (NULL or a missing file when !required: defaults only).
 * On error returns VT_EPARSE/VT_EINVAL/VT_EIO and fills err with the line. */
int vt_conf_load(const char *path, int required, struct vt_conf **out, struct vt_error *err);
/* Defaults plus environment, no file. Never fails except VT_ENOMEM. */
int vt_conf_defaults(struct vt_conf **out);
void vt_conf_free(struct vt_conf *c);

/* Set a value in memory (command-line flags override file and env). */
int vt_conf_set(struct vt_conf *c, const char *key, const char *value);

/* Typed reads; the key must be declared (asserts otherwise). Values that do
 * not parse were already rejected by vt_conf_load/vt_conf_set. */
const char *vt_conf_str(const struct vt_conf *c, const char *key);
int64_t vt_conf_int(const struct vt_conf *c, const char *key);
double vt_conf_double(const struct vt_conf *c, const char *key);

/* The declared keys, terminated by an entry with key == NULL. */
const struct vt_conf_key *vt_conf_keys(void);

/* Print the effective configuration as a vitrine.conf file. */
void vt_conf_dump(const struct vt_conf *c, FILE *f);

#endif
