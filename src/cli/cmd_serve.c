/* cmd_serve.c - `vitrine serve`: open the database and run the HTTP server
 * until SIGTERM/SIGINT (the server owns signal handling and draining). */
#include "api/server.h"
#include "cli/cli.h"

int cmd_serve(struct cli *c)
{
    const char *listen = cli_opt(c, "--listen");
    if (listen) {
        if (!*listen)
            return cli_usage_error(c, "--listen needs ADDR:PORT, e.g. 127.0.0.1:8080");
        if (vt_conf_set(c->conf, "listen", listen))
            return cli_fail("out of memory");
    }
    int rc = cli_open_store(c, 0);
    if (rc)
        return rc;
    struct vt_error e;
    vt_error_clear(&e);
    rc = vt_server_run(c->conf, c->store, &e);
    if (rc)
        return cli_fail("%s", e.message[0] ? e.message : vt_strerror(rc));
    return CLI_OK;
}
