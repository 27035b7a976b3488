/*
 * ratelimit.h - token buckets keyed by short byte strings (a client's
 * address, a key id).
 *
 * Each key gets a bucket of `burst` tokens refilled at `rate` per second;
 * a request takes one. The table has a fixed number of slots, so memory
 * stays bounded whatever the number of clients: when a group of slots is
 * full, the bucket idle for longest is dropped (its client starts again
 * with a full bucket, which only errs towards letting requests through).
 *
 * Thread-safe (one lock per group of slots). api_ratelimit_free(NULL) is
 * a no-op.
 */
#ifndef VT_API_RATELIMIT_H
#define VT_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define API_RATELIMIT_KEY_MAX 24

struct api_ratelimit;

/* rate > 0 tokens per second, burst >= 1. */
int api_ratelimit_new(double rate, double burst, struct api_ratelimit **out);
void api_ratelimit_free(struct api_ratelimit *rl);

/* Take a token for key[0..keylen) (longer keys are cut to
 * API_RATELIMIT_KEY_MAX bytes). 0 when allowed; VT_ERATE when the bucket is
 * empty, with *retry_after_s the whole seconds until a token is back. */
int api_ratelimit_take(struct api_ratelimit *rl, const void *key, size_t keylen, int64_t now_ns,
                       int *retry_after_s);

#endif
