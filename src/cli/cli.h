/*
 * cli.h - what the `vitrine` command's files share (private to src/cli).
 *
 * main.c parses the command line against a table of commands, each with
 * its own options plus the common ones (--db, --config, --log-level,
 * --help), loads the configuration (defaults < file < environment < flags)
 * and calls the command's run function. A run function returns the exit
 * status: 0 on success, 1 on failure, 2 on a usage error; it reports a
 * failure with cli_fail(), which prints the one line "vitrine: <reason>".
 * Resources a command opens through struct cli (conf, store) are freed by
 * main.c, so a command can return from anywhere.
 */
#ifndef VT_CLI_CLI_H
#define VT_CLI_CLI_H

#include "core/conf.h"
#include "store/store.h"

#ifndef VT_VERSION
#define VT_VERSION "0.1.0"
#endif

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAX_OPTS 8 /* command-specific options per command */
#define CLI_MAX_POS 256 /* positional arguments per command (texts of `vitrine embed`) */

struct cli_opt {
    const char *name;  /* "--listen" */
    const char *arg;   /* "ADDR:PORT", or NULL for a flag */
    const char *help;
};

struct cli;

struct cli_cmd {
    const char *name;      /* "key create" */
    const char *args;      /* positional synopsis, "FILE", or "" */
    int min_pos, max_pos;
    const char *summary;   /* one line, for `vitrine --help` */
    const char *details;   /* more paragraphs for `--help`, or NULL */
    struct cli_opt opts[CLI_MAX_OPTS]; /* ends at the first name == NULL */
    int (*run)(struct cli *c);
};

struct cli {
    const struct cli_cmd *cmd;
    const char *optval[CLI_MAX_OPTS]; /* per cmd->opts entry: its value, "1"
                                         for a flag given, NULL if absent */
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *db, *config, *log_level; /* the common options, or NULL */
    struct vt_conf *conf;                /* loaded before run() */
    const char *conf_file;               /* the file it was read from, or NULL */
    struct vt_store *store;              /* opened by cli_open_store() */
};

/* The value of a command-specific option ("--limit"), or NULL. */
const char *cli_opt(const struct cli *c, const char *name);

/* Print "vitrine: <reason>" (newlines flattened) on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a misused command line; returns CLI_USAGE. */
int cli_usage_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open the database named by the configuration ("db", after --db) into
 * c->store. read_only: refuse to create or migrate it. CLI_OK or the exit
 * status after reporting the failure. */
int cli_open_store(struct cli *c, int read_only);

/* Parse a whole non-negative decimal number; 0 or -1. */
int cli_parse_size(const char *s, size_t *out);

/* The commands, one per file. */
int cmd_serve(struct cli *c);
int cmd_import_items(struct cli *c);
int cmd_import_events(struct cli *c);
int cmd_import_sh3d(struct cli *c);
int cmd_key_create(struct cli *c);
int cmd_key_list(struct cli *c);
int cmd_key_revoke(struct cli *c);
int cmd_export_events(struct cli *c);
int cmd_export_items(struct cli *c);
int cmd_embed(struct cli *c);
int cmd_model_info(struct cli *c);
int cmd_eval(struct cli *c);
int cmd_train(struct cli *c);
/* The imports followed by embedding the new and changed items (config
 * embed_on_import; cmd_embed.c). */
int cmd_import_items_embed(struct cli *c);
int cmd_import_sh3d_embed(struct cli *c);

struct vt_textenc;
/* The text pipeline of the configuration ("model", "text_dir", "bridge"),
 * with the command's --model, if it has one, overriding "model"; nothing
 * is loaded yet. CLI_OK or the exit status after reporting the failure. */
int cli_textenc_new(struct cli *c, struct vt_textenc **out);

#endif
