/*
 * main.c - the `vitrine` command: parsing, help, configuration, dispatch.
 *
 * Command line grammar:
 *   vitrine [common options] COMMAND [SUBCOMMAND] [options and arguments]
 * Options may come before or after the arguments, as "--opt value" or
 * "--opt=value"; "--" ends the options; "-" is an ordinary argument (stdin).
 * The common options are accepted by every command. Exit status: 0 success,
 * 1 failure, 2 a usage error; every failure prints exactly one line
 * "vitrine: <reason>" on standard error.
 *
 * Configuration precedence, lowest first: built-in defaults, the file
 * (--config FILE, else ./vitrine.conf when it exists), VITRINE_*
 * environment variables, command-line flags.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/pool.h"
#include "nn/encoder.h"

static int cmd_config(struct cli *c);
static int cmd_version(struct cli *c);

#define DB_HELP "database: a SQLite file or sqlite:PATH (default: config \"db\", ./vitrine.db)"

static const struct cli_opt common_opts[] = {
    {"--db", "PATH", DB_HELP},
    {"--config", "FILE", "configuration file (default: ./vitrine.conf if it exists)"},
    {"--log-level", "LEVEL", "debug, info, warn, error or off"},
    {"--help", NULL, "show this help and exit"},
    {NULL, NULL, NULL},
};

static const struct cli_cmd commands[] = {
    {"serve", "", 0, 0, "run the HTTP server: REST API, storefront and 3D assets",
     "Serves until SIGTERM or SIGINT, then stops accepting, finishes the requests\n"
     "in flight, flushes the database and exits 0. Logs one line per request.",
     {{"--listen", "ADDR:PORT", "address to listen on (default: config \"listen\", "
                                "127.0.0.1:8080)"}},
     cmd_serve},
    {"import items", "FILE", 1, 1, "import or update items from a JSON Lines or CSV file",
     "FILE is JSON Lines (.jsonl, .ndjson, .json-lines: one item object per line,\n"
     "as in POST /v1/items) or CSV (.csv) with a header row; '-' reads standard\n"
     "input. CSV columns: id, title_en, title_zh (any title_<lang>), description_en,\n"
     "description_zh (any description_<lang>), category, tags (separated by '|'),\n"
     "price, currency, stock, w_cm, d_cm, h_cm, model_url, hidden, attributes (a\n"
     "JSON object). Empty cells are left out. An item with an existing id replaces\n"
     "it. Invalid lines are rejected with their line number and the rest imported;\n"
     "the exit status is 1 when any line was rejected. New and changed items are then\n"
     "embedded with the configured model (config \"embed_on_import\"; a progress bar on\n"
     "a terminal; nothing when no model is installed).",
     {{"--format", "jsonl|csv", "file format (default: from the file name's extension)"}},
     cmd_import_items_embed},
    {"import events", "FILE", 1, 1, "import events from a JSON Lines or CSV file",
     "FILE is JSON Lines (one event object per line, as in POST /v1/events) or CSV\n"
     "with a header row; '-' reads standard input. CSV columns: user_id, item_id,\n"
     "type, value, ts (ISO-8601, or integer epoch seconds or milliseconds), context\n"
     "(a JSON object). Events about unknown items are rejected with their line\n"
     "number; the exit status is 1 when any line was rejected.",
     {{"--format", "jsonl|csv", "file format (default: from the file name's extension)"}},
     cmd_import_events},
    {"import sh3d", "DIR", 1, 1, "import the Sweet Home 3D furniture catalogs as the demo shop",
     "DIR holds one folder per extracted .sh3f catalog. Each piece becomes an item\n"
     "with its English and Chinese names, category, dimensions and licence; its\n"
     "OBJ model is converted to binary glTF under the assets folder, which must lie\n"
     "under <data_dir>/assets, the folder served at /assets/. The pieces are then\n"
     "embedded as after 'vitrine import items'.",
     {{"--assets", "DIR", "where the .glb models go (default: <data_dir>/assets/models)"},
      {"--limit", "N", "import at most N pieces, sampled from every catalog (default: all)"},
      {"--reconvert", NULL, "convert models again even when the .glb exists"},
      {"--no-models", NULL, "import the pieces without converting their models"},
      {"--threads", "N", "model conversion threads (default: one per CPU, at most 4)"}},
     cmd_import_sh3d_embed},
    {"key create", "", 0, 0, "create an API key and print it (it is shown only once)",
     "Prints the new key alone on the last line of standard output. Only a hash\n"
     "of its secret is stored: it cannot be shown again. Scopes: public (storefront:\n"
     "read the catalog, send its own session's events; rate-limited), read, ingest\n"
     "(write events and items), admin (everything).",
     {{"--scope", "SCOPE", "admin, ingest, read or public (required)"},
      {"--label", "TEXT", "a note to recognise the key by in lists (up to 63 bytes)"}},
     cmd_key_create},
    {"key list", "", 0, 0, "list API keys: id, scope, created, revoked, label", NULL, {{0}},
     cmd_key_list},
    {"key revoke", "ID", 1, 1, "revoke an API key by its id (or the whole key)",
     "A running server refuses the key within a few seconds.", {{0}}, cmd_key_revoke},
    {"export events", "", 0, 0, "write events as JSON Lines on standard output",
     "One event object per line, in the order they were stored, in the same form as\n"
     "the API returns them; `vitrine import events` reads the output back.",
     {{"--after", "ID", "only events with an id greater than ID (default: 0, all)"}},
     cmd_export_events},
    {"export items", "", 0, 0, "write the catalog as JSON Lines on standard output",
     "One item object per line in id order, hidden items included, in the same form\n"
     "as the API returns them; `vitrine import items` reads the output back.",
     {{0}}, cmd_export_items},
    {"embed", "[TEXT...]", 0, CLI_MAX_POS, "print embeddings of texts as JSON Lines, or embed "
                                            "the catalog",
     "Prints one JSON object per TEXT, in order: {\"text\": ..., \"embedding\": [...]}\n"
     "(floats with 7 significant digits), and \"ids\", the token ids the model read,\n"
     "with --ids. With no TEXT, each line of standard input is one text. Chinese text\n"
     "reaches a model without Chinese pieces (the default USE-Lite) through the\n"
     "Chinese-to-English bridge unless --no-bridge or config \"bridge\" = 0; --ids then\n"
     "shows the ids of the English words. With --items, embeds every item that is\n"
     "missing or stale for the model and deletes other models' vectors.",
     {{"--model", "PATH", "model folder or .gguf file (default: config \"model\")"},
      {"--ids", NULL, "also print the token ids the model read"},
      {"--no-bridge", NULL, "give the model the text exactly as it is (its raw output)"},
      {"--items", NULL, "embed the catalog's new and changed items, with a progress bar"}},
     cmd_embed},
    {"model info", "", 0, 0, "describe the sentence encoder: architecture, size, id, licence",
     "Loads the model and prints one property per line: path, architecture, model\n"
     "id (stored with every item vector), dimension, layers, hidden size, heads, max\n"
     "tokens, vocabulary size, pooling, normalisation, licence, and how Chinese text\n"
     "reaches it.",
     {{"--model", "PATH", "model folder or .gguf file (default: config \"model\")"}},
     cmd_model_info},
    {"eval", "", 0, 0, "evaluate the recommenders offline on a train/test split of events",
     "Trains every model on TRAIN (hyper-parameters tuned on a validation slice carved\n"
     "from TRAIN), ranks the whole catalog for every user with a test rating >= 4,\n"
     "leaving out their train items, and prints Recall, NDCG, MAP and coverage as a\n"
     "Markdown table and, on the last line, as one JSON object. Files are JSON Lines\n"
     "or CSV as for 'vitrine import'. Models: pop, trending, itemknn, ials, content\n"
     "(needs the configured sentence encoder), hybrid. Protocol: docs/evaluation.md.",
     {{"--items", "FILE", "the catalog (required)"},
      {"--train", "FILE", "events to learn from (required)"},
      {"--test", "FILE", "held-out events to measure on (required)"},
      {"--k", "N", "cut-off of the measures (default 10; recall also at 2N)"},
      {"--model", "NAME", "pop, trending, itemknn, ials, content, hybrid, a comma list or all"},
      {"--rankings", "FILE", "write each user's top list as JSON Lines (per model if several)"},
      {"--interactions", "RULE", "positive: learn from ratings >= 4 (default); all: every rating"},
      {"--no-tune", NULL, "skip the validation search and use default hyper-parameters"}},
     cmd_eval},
    {"train", "", 0, 0, "retrain the ranker on the logged impressions and print the report",
     "Rebuilds the models from the database and trains the ranker from its prior on\n"
     "the impressions whose label window has passed, labelled by what each shopper\n"
     "did next. The newest 20% are held out: the new ranker is accepted, and saved\n"
     "for the next server start, only when it ranks them better than chance and no\n"
     "worse than the ranker saved now; otherwise the report says why it was refused.\n"
     "Exit status 0 either way. Details: docs/ranker.md.",
     {{"--json", NULL, "print the report as one JSON object"}},
     cmd_train},
    {"config", "", 0, 0, "print the effective configuration, with help for every key",
     "The output is a valid vitrine.conf. Precedence, lowest first: defaults, the\n"
     "configuration file, VITRINE_* environment variables, command-line flags.",
     {{"--markdown", NULL, "print the table of keys, defaults and meanings instead"}},
     cmd_config},
    {"version", "", 0, 0, "print the version", NULL, {{0}}, cmd_version},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ---- helpers shared with the command files ---------------------------- */

static void vfail(const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "vitrine: %s\n", msg);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c && c->cmd)
        cli_fail("%s (see 'vitrine %s --help')", msg, c->cmd->name);
    else
        cli_fail("%s (see 'vitrine --help')", msg);
    return CLI_USAGE;
}

const char *cli_opt(const struct cli *c, const char *name)
{
    for (int i = 0; i < CLI_MAX_OPTS && c->cmd->opts[i].name; i++)
        if (strcmp(c->cmd->opts[i].name, name) == 0)
            return c->optval[i];
    return NULL;
}

int cli_parse_size(const char *s, size_t *out)
{
    if (!s || !*s)
        return -1;
    size_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

int cli_open_store(struct cli *c, int read_only)
{
    const char *db = vt_conf_str(c->conf, "db");
    if (read_only && !strstr(db, "://")) {
        /* Opening read-only must not create an empty database by mistake. */
        const char *path = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
        struct stat st;
        if (*path && stat(path, &st) != 0)
            return cli_fail("no database at %s (%s); give --db or set VITRINE_DB", db,
                            strerror(errno));
    }
    struct vt_store_options so = {0};
    so.group_commit_us = vt_conf_int(c->conf, "group_commit_us");
    so.read_only = read_only;
    struct vt_error e;
    vt_error_clear(&e);
    int rc = vt_store_open(db, &so, &c->store, &e);
    if (rc)
        return cli_fail("%s", e.message[0] ? e.message : vt_strerror(rc));
    return CLI_OK;
}

/* ---- help --------------------------------------------------------------- */

static void print_opt(FILE *f, const struct cli_opt *o)
{
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fprintf(f, "  %-22s %s\n", left, o->help);
}

static void print_command_help(const struct cli_cmd *cmd, FILE *f)
{
    fprintf(f, "Usage: vitrine %s%s%s [options]\n\n", cmd->name, cmd->args[0] ? " " : "",
            cmd->args);
    fprintf(f, "%c%s.\n", toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
    fprintf(f, "\nOptions:\n");
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++)
        print_opt(f, &cmd->opts[i]);
    for (const struct cli_opt *o = common_opts; o->name; o++)
        print_opt(f, o);
}

static void print_main_help(FILE *f)
{
    fprintf(f, "vitrine %s - recommendation engine and 3D furniture shop server\n\n"
               "Usage: vitrine COMMAND [options]\n\nCommands:\n",
            VT_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", commands[i].name, commands[i].args[0] ? " " : "",
                 commands[i].args);
        fprintf(f, "  %-22s %s\n", left, commands[i].summary);
    }
    fprintf(f, "\nCommon options (every command):\n");
    for (const struct cli_opt *o = common_opts; o->name; o++)
        print_opt(f, o);
    fprintf(f, "  %-22s %s\n", "--version", "print the version and exit");
    fprintf(f, "\nRun 'vitrine COMMAND --help' for a command's options. Configuration: "
               "docs/configuration.md.\n");
}

/* The subcommands of a group ("key") as "create, list, revoke". */
static void group_members(const char *group, char *out, size_t outsz)
{
    size_t n = strlen(group), used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strncmp(commands[i].name, group, n) == 0 && commands[i].name[n] == ' ')
            used += (size_t)snprintf(out + used, used < outsz ? outsz - used : 0, "%s%s",
                                     used ? ", " : "", commands[i].name + n + 1);
        if (used >= outsz)
            break;
    }
}

static int is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == ' ')
            return 1;
    return 0;
}

static void print_group_help(const char *group, FILE *f)
{
    size_t n = strlen(group);
    fprintf(f, "Usage: vitrine %s SUBCOMMAND [options]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strncmp(commands[i].name, group, n) || commands[i].name[n] != ' ')
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", commands[i].name + n + 1,
                 commands[i].args[0] ? " " : "", commands[i].args);
        fprintf(f, "  %-22s %s\n", left, commands[i].summary);
    }
    fprintf(f, "\nRun 'vitrine %s SUBCOMMAND --help' for its options.\n", group);
}

static const struct cli_cmd *find_command(const char *w1, const char *w2)
{
    char name[64];
    if (w2)
        snprintf(name, sizeof name, "%s %s", w1, w2);
    else
        snprintf(name, sizeof name, "%s", w1);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---- argument parsing ---------------------------------------------------- */

static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

/* One option at argv[*i]: a common one or one of cmd's (cmd may be NULL
 * before the command word). Consumes its value. */
static int parse_option(struct cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const struct cli_opt *opt = NULL;
    int slot = -1; /* index in cmd->opts, or -1 for a common option */
    for (const struct cli_opt *o = common_opts; o->name; o++)
        if (strlen(o->name) == nlen && strncmp(o->name, a, nlen) == 0)
            opt = o;
    for (int k = 0; !opt && c->cmd && k < CLI_MAX_OPTS && c->cmd->opts[k].name; k++)
        if (strlen(c->cmd->opts[k].name) == nlen && strncmp(c->cmd->opts[k].name, a, nlen) == 0) {
            opt = &c->cmd->opts[k];
            slot = k;
        }
    if (!opt) {
        if (c->cmd)
            return cli_usage_error(c, "unknown option '%.*s' for 'vitrine %s'", (int)nlen, a,
                                   c->cmd->name);
        return cli_usage_error(c, "unknown option '%.*s'", (int)nlen, a);
    }
    const char *val = "1";
    if (opt->arg) {
        if (eq) {
            val = eq + 1;
        } else if (*i + 1 < argc) {
            val = argv[++*i];
        } else {
            return cli_usage_error(c, "%s needs a value (%s)", opt->name, opt->arg);
        }
    } else if (eq) {
        return cli_usage_error(c, "%s takes no value", opt->name);
    }
    if (slot >= 0) {
        c->optval[slot] = val;
    } else if (strcmp(opt->name, "--db") == 0) {
        if (!*val)
            return cli_usage_error(c, "--db needs a path");
        c->db = val;
    } else if (strcmp(opt->name, "--config") == 0) {
        if (!*val)
            return cli_usage_error(c, "--config needs a file");
        c->config = val;
    } else if (strcmp(opt->name, "--log-level") == 0) {
        enum vt_log_level lv;
        if (vt_log_parse_level(val, &lv))
            return cli_usage_error(c, "--log-level must be debug, info, warn, error or off, not "
                                      "'%.40s'",
                                   val);
        c->log_level = val;
    }
    return CLI_OK;
}

/* ---- configuration --------------------------------------------------- */

static int load_conf(struct cli *c)
{
    const char *path = c->config;
    int required = 1;
    struct stat st;
    if (path) {
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return cli_fail("%s: is a directory, not a configuration file", path);
    } else {
        path = "./vitrine.conf";
        required = stat(path, &st) == 0; /* there but unreadable: say so */
        if (!required)
            path = NULL;
    }
    struct vt_error e;
    vt_error_clear(&e);
    int rc = vt_conf_load(path, required, &c->conf, &e);
    if (rc)
        return cli_fail("%s", e.message[0] ? e.message : vt_strerror(rc));
    c->conf_file = path;
    if (c->db && vt_conf_set(c->conf, "db", c->db))
        return cli_fail("out of memory");
    if (c->log_level && vt_conf_set(c->conf, "log_level", c->log_level))
        return cli_fail("out of memory");
    enum vt_log_level lv;
    const char *level = vt_conf_str(c->conf, "log_level");
    if (vt_log_parse_level(level, &lv))
        return cli_fail("log_level must be debug, info, warn, error or off, not '%.40s'", level);
    /* The server logs at the configured level; the other commands are
     * quiet tools that speak up only for warnings unless asked. */
    if (strcmp(c->cmd->name, "serve") != 0 && !c->log_level)
        lv = VT_LOG_WARN;
    vt_log_set_level(lv);
    int64_t compute = vt_conf_int(c->conf, "compute_threads");
    if (compute > 0)
        vt_pool_shared_set_threads((size_t)compute);
    vt_encoder_set_gather_limit((long)vt_conf_int(c->conf, "encode_batch"));
    return CLI_OK;
}

/* ---- the commands kept here ------------------------------------------- */

static void print_markdown_table(FILE *f)
{
    fprintf(f, "| Key | Default | Environment variable | Meaning |\n|---|---|---|---|\n");
    for (const struct vt_conf_key *k = vt_conf_keys(); k->key; k++) {
        char env[96];
        size_t n = (size_t)snprintf(env, sizeof env, "VITRINE_");
        for (const char *p = k->key; *p && n + 1 < sizeof env; p++)
            env[n++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        env[n] = '\0';
        fprintf(f, "| `%s` | `%s` | `%s` | ", k->key, k->def, env);
        for (const char *p = k->help; *p; p++) {
            if (*p == '|')
                fputc('\\', f);
            fputc(*p, f);
        }
        fprintf(f, " |\n");
    }
}

static int cmd_config(struct cli *c)
{
    if (cli_opt(c, "--markdown")) {
        print_markdown_table(stdout);
    } else {
        printf("# vitrine %s: the configuration in effect.\n", VT_VERSION);
        if (c->conf_file)
            printf("# Built-in defaults, overridden by %s, then by VITRINE_* environment\n"
                   "# variables, then by command-line flags.\n\n",
                   c->conf_file);
        else
            printf("# Built-in defaults (no configuration file: none given, no ./vitrine.conf),\n"
                   "# overridden by VITRINE_* environment variables, then by command-line "
                   "flags.\n\n");
        vt_conf_dump(c->conf, stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_fail("writing standard output: %s", strerror(errno));
    return CLI_OK;
}

static int cmd_version(struct cli *c)
{
    (void)c;
    printf("vitrine %s\n", VT_VERSION);
    return CLI_OK;
}

/* ---- main ------------------------------------------------------------- */

static int run(struct cli *c, int argc, char **argv)
{
    int i = 1, rc;
    /* Common options may come before the command. */
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0' && strcmp(argv[i], "--") != 0) {
        if (is_help(argv[i])) {
            print_main_help(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("vitrine %s\n", VT_VERSION);
            return CLI_OK;
        }
        if ((rc = parse_option(c, argc, argv, &i)))
            return rc;
        i++;
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc)
        return cli_usage_error(c, "no command given");
    const char *w1 = argv[i++];
    if (strcmp(w1, "help") == 0) {
        /* vitrine help [COMMAND [SUBCOMMAND]] */
        const struct cli_cmd *cmd = NULL;
        if (i < argc)
            cmd = find_command(argv[i], i + 1 < argc ? argv[i + 1] : NULL);
        if (!cmd && i < argc)
            cmd = find_command(argv[i], NULL);
        if (cmd)
            print_command_help(cmd, stdout);
        else if (i < argc && is_group(argv[i]))
            print_group_help(argv[i], stdout);
        else if (i < argc)
            return cli_usage_error(c, "unknown command '%.40s'", argv[i]);
        else
            print_main_help(stdout);
        return CLI_OK;
    }
    const struct cli_cmd *cmd = find_command(w1, NULL);
    if (!cmd && is_group(w1)) {
        char members[128];
        group_members(w1, members, sizeof members);
        if (i >= argc || argv[i][0] == '-') {
            if (i < argc && is_help(argv[i])) {
                print_group_help(w1, stdout);
                return CLI_OK;
            }
            cli_fail("'%s' needs a subcommand: %s (see 'vitrine %s --help')", w1, members, w1);
            return CLI_USAGE;
        }
        cmd = find_command(w1, argv[i]);
        if (!cmd) {
            cli_fail("unknown subcommand '%s %.40s'; %s subcommands are: %s (see 'vitrine %s "
                     "--help')",
                     w1, argv[i], w1, members, w1);
            return CLI_USAGE;
        }
        i++;
    }
    if (!cmd)
        return cli_usage_error(c, "unknown command '%.40s'", w1);
    c->cmd = cmd;

    /* --help wins over everything else on the line. */
    for (int k = i; k < argc && strcmp(argv[k], "--") != 0; k++) {
        if (is_help(argv[k])) {
            print_command_help(cmd, stdout);
            return CLI_OK;
        }
    }
    int only_pos = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && a[0] == '-' && a[1] != '\0') {
            if ((rc = parse_option(c, argc, argv, &i)))
                return rc;
        } else if (c->npos < cmd->max_pos) {
            c->pos[c->npos++] = a;
        } else {
            return cli_usage_error(c, "unexpected argument '%.60s'", a);
        }
    }
    if (c->npos < cmd->min_pos)
        return cli_usage_error(c, "'vitrine %s' needs %s", cmd->name, cmd->args);
    if (cmd->run == cmd_version)
        return cmd_version(c);
    if ((rc = load_conf(c)))
        return rc;
    return cmd->run(c);
}

int main(int argc, char **argv)
{
    vt_alloc_install_json();
    struct cli c;
    memset(&c, 0, sizeof c);
    int rc = run(&c, argc, argv);
    vt_store_close(c.store);
    vt_conf_free(c.conf);
    if (fflush(stdout) != 0 && rc == CLI_OK)
        rc = cli_fail("writing standard output: %s", strerror(errno));
    return rc;
}
