/*
 * server.h - the HTTP server: REST API, storefront and assets.
 *
 * vt_server_run() listens on conf "listen", serves until SIGTERM or SIGINT,
 * then stops accepting, finishes in-flight requests, flushes the store and
 * returns 0. It does not close the store (the caller owns it).
 */
#ifndef VT_API_SERVER_H
#define VT_API_SERVER_H

#include "core/conf.h"
#include "core/error.h"
#include "store/store.h"

int vt_server_run(const struct vt_conf *conf, struct vt_store *store, struct vt_error *err);

#endif
