/*
 * ratelimit.c - bounded table of token buckets.
 *
 * The table is NGROUP groups of GROUP_SLOTS slots; a key hashes to one
 * group and lives in any of its slots. Each group has its own mutex, so
 * clients that hash apart never contend.
 */
#include "api/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#define NGROUP 512
#define GROUP_SLOTS 8

struct bucket {
    unsigned char key[API_RATELIMIT_KEY_MAX];
    uint8_t keylen;       /* 0 = empty slot */
    double tokens;
    int64_t last_ns;
};

struct group {
    pthread_mutex_t mu;
    struct bucket slots[GROUP_SLOTS];
};

struct api_ratelimit {
    double rate, burst;
    struct group groups[NGROUP];
};

int api_ratelimit_new(double rate, double burst, struct api_ratelimit **out)
{
    if (!(rate > 0) || !(burst >= 1))
        return VT_EINVAL;
    struct api_ratelimit *rl = vt_calloc(1, sizeof *rl);
    if (!rl)
        return VT_ENOMEM;
    rl->rate = rate;
    rl->burst = burst;
    for (size_t i = 0; i < NGROUP; i++)
        pthread_mutex_init(&rl->groups[i].mu, NULL);
    *out = rl;
    return 0;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < NGROUP; i++)
        pthread_mutex_destroy(&rl->groups[i].mu);
    vt_free(rl);
}

static uint32_t hash_bytes(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

int api_ratelimit_take(struct api_ratelimit *rl, const void *key, size_t keylen, int64_t now_ns,
                       int *retry_after_s)
{
    if (keylen > API_RATELIMIT_KEY_MAX)
        keylen = API_RATELIMIT_KEY_MAX;
    if (keylen == 0)
        keylen = 1; /* an empty key shares one bucket; the byte below is 0 */
    unsigned char k[API_RATELIMIT_KEY_MAX] = {0};
    memcpy(k, key, keylen);
    struct group *g = &rl->groups[hash_bytes(k, keylen) % NGROUP];
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    struct bucket *b = NULL, *victim = &g->slots[0];
    for (size_t i = 0; i < GROUP_SLOTS; i++) {
        struct bucket *s = &g->slots[i];
        if (s->keylen == keylen && memcmp(s->key, k, keylen) == 0) {
            b = s;
            break;
        }
        if (victim->keylen && (!s->keylen || s->last_ns < victim->last_ns))
            victim = s;
    }
    if (!b) {
        b = victim;
        memcpy(b->key, k, sizeof b->key);
        b->keylen = (uint8_t)keylen;
        b->tokens = rl->burst;
        b->last_ns = now_ns;
    }
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ns = now_ns;
    }
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        rc = VT_ERATE;
        if (retry_after_s) {
            double wait = ceil((1 - b->tokens) / rl->rate);
            *retry_after_s = wait < 1 ? 1 : wait > 86400 ? 86400 : (int)wait;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}
