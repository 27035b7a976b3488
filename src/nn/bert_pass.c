/*
 * bert_pass.c - the BERT forward pass over tokenized texts (see bert.h for
 * the network and bert_int.h for the model struct).
 *
 * A call's texts are packed end to end, as many per pass as PASS_BYTES of
 * work memory allow; every per-token product runs once over all of them
 * and attention runs per text and head. A pass's work memory (activations,
 * attention scratch, row starts) is one block reused across calls through
 * a small cache in the model. A call with at least one text per thread is
 * split into one run of texts per thread (see encode_split).
 *
 * Every row of every product depends only on its own token's row, so a
 * text's vector is the same, bit for bit, whatever batch, split or thread
 * count computed it.
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "nn/bert_int.h"
#include "nn/kernels.h"

/* Work memory of one forward pass, which bounds the tokens packed in it. */
#define PASS_BYTES (64u << 20)
#define PASS_MAX_TOKENS 4096
/* The largest work area kept between calls: a bigger one (a long batch)
 * is freed after its call. */
#define WORK_KEEP_BYTES (16u << 20)

/* Work memory of a pass (activations, attention scratch, row starts), one
 * block grown on demand and kept in the model's cache between calls, so a
 * pass allocates nothing. */
struct bert_work {
    void *mem;
    size_t bytes;
};

static void work_free(struct bert_work *w)
{
    if (w)
        vt_free(w->mem);
    vt_free(w);
}

/* A cached work area, or a new empty one (NULL: out of memory). */
static struct bert_work *work_get(struct bert *m)
{
    struct bert_work *w = NULL;
    pthread_mutex_lock(&m->work_mu);
    if (m->n_work)
        w = m->work[--m->n_work];
    pthread_mutex_unlock(&m->work_mu);
    return w ? w : vt_calloc(1, sizeof *w);
}

/* Back to the cache, unless it is full or the area is over WORK_KEEP_BYTES. */
static void work_put(struct bert *m, struct bert_work *w)
{
    pthread_mutex_lock(&m->work_mu);
    if (w && w->bytes <= WORK_KEEP_BYTES && m->n_work < BERT_WORK_CACHE) {
        m->work[m->n_work++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&m->work_mu);
    work_free(w);
}

struct pass {
    const struct bert *m;
    size_t nseq, T;
    const int32_t *const *ids;
    const size_t *len;
    size_t *start;              /* first row of each sequence */
    float *x, *qkv, *ctx, *tmp, *inter;
    /* attention: (sequence, head) pairs in runs of per_task, each task
     * with att_task floats of scratch at att + task * att_task */
    size_t pairs, per_task, att_task;
    float *att;
};

/* Scratch floats of one attention task for texts of up to L tokens. */
static size_t att_scratch(const struct bert *m, size_t L)
{
    return vt_attention_work_floats(L, m->hidden / m->heads);
}

/* One (sequence, head): softmax(Q K^T / sqrt(d)) V, read from the fused
 * QKV rows and written into the head's columns of ctx, without copies.
 * buf: att_scratch(m, L) floats. */
static void attention_pair(const struct pass *p, size_t t, float *buf)
{
    const struct bert *m = p->m;
    size_t H = m->hidden, d = H / m->heads;
    size_t s = t / m->heads, h = t % m->heads;
    size_t L = p->len[s], r0 = p->start[s];
    const float *q = p->qkv + r0 * 3 * H + h * d;
    float scale = (float)(1.0 / sqrt((double)d));
    vt_attention(q, q + H, q + 2 * H, 3 * H, L, d, scale, p->ctx + r0 * H + h * d, H, buf);
}

static void attention_task(void *arg, size_t t)
{
    const struct pass *p = arg;
    size_t end = (t + 1) * p->per_task < p->pairs ? (t + 1) * p->per_task : p->pairs;
    for (size_t pair = t * p->per_task; pair < end; pair++)
        attention_pair(p, pair, p->att + t * p->att_task);
}

/* Attention tasks for a pass: one on a single thread (or inside a run of
 * a split call, par = 0), else a few per thread so that a thread that
 * falls behind is made up for. */
static size_t att_tasks(size_t pairs, int par)
{
    size_t threads = par ? vt_pool_threads(vt_pool_shared()) : 1;
    size_t t = threads > 1 ? 4 * threads : 1;
    return t < pairs ? t : pairs;
}

static int forward(const struct bert *m, struct bert_work *w, const int32_t *const *ids,
                   const size_t *len, size_t nseq, int par, float *out)
{
    size_t H = m->hidden, I = m->inter, T = 0, lmax = 0;
    for (size_t s = 0; s < nseq; s++) {
        T += len[s];
        lmax = len[s] > lmax ? len[s] : lmax;
    }
    struct pass p = {0};
    p.m = m;
    p.nseq = nseq;
    p.T = T;
    p.ids = ids;
    p.len = len;
    p.pairs = nseq * m->heads;
    size_t tasks = att_tasks(p.pairs, par);
    p.per_task = (p.pairs + tasks - 1) / tasks;
    tasks = (p.pairs + p.per_task - 1) / p.per_task;
    p.att_task = att_scratch(m, lmax);
    /* T <= PASS_MAX_TOKENS (or one text of max_tokens), and the widths
     * are those of weights in memory: these sizes cannot overflow. The
     * row starts go first, where the block's alignment holds for them. */
    size_t inter = vt_strips_floats(T, I);
    size_t floats = T * (3 * H + 3 * H) + inter + tasks * p.att_task;
    size_t head = (nseq * sizeof(size_t) + 63) & ~(size_t)63;
    size_t bytes = head + floats * sizeof(float);
    if (bytes > w->bytes) {
        void *mem = vt_malloc(bytes);
        if (!mem)
            return VT_ENOMEM;
        vt_free(w->mem);
        w->mem = mem;
        w->bytes = bytes;
    }
    p.start = w->mem;
    float *mem = (float *)(void *)((char *)w->mem + head);
    p.att = mem + T * (3 * H + 3 * H) + inter;
    p.x = mem;
    p.tmp = p.x + T * H;
    p.ctx = p.tmp + T * H;
    p.qkv = p.ctx + T * H;
    p.inter = p.qkv + T * 3 * H;
    for (size_t s = 0, r = 0; s < nseq; s++) {
        p.start[s] = r;
        size_t real = 0;
        for (size_t i = 0; i < len[s]; i++, r++) {
            float *x = p.x + r * H;
            size_t pi = i;
            if (m->roberta_pos)
                pi = ids[s][i] == m->pad_id ? (size_t)m->pad_id : (size_t)m->pad_id + ++real;
            const float *we = m->word + (size_t)ids[s][i] * H, *pe = m->pos + pi * H;
            for (size_t j = 0; j < H; j++)
                x[j] = we[j] + pe[j] + m->type0[j];
        }
    }
    vt_layernorm(p.x, m->eln_g, m->eln_b, T, H, m->eps);
    for (size_t li = 0; li < m->layers; li++) {
        const struct bert_layer *L = &m->l[li];
        vt_gemm_packed(p.x, L->qkv, L->b_qkv, p.qkv, T);
        vt_pool_run(vt_pool_shared(), attention_task, &p, tasks);
        /* residuals added as each tile of the product is finished; the
         * FFN's hidden layer goes from one product to the next in the
         * strip layout (kernels.h), so the second product packs nothing */
        const struct vt_gemm_ex res_x = {.add = p.x};
        vt_gemm_packed_ex(p.ctx, L->out, L->b_out, p.tmp, T, &res_x);
        vt_layernorm(p.tmp, L->ln1_g, L->ln1_b, T, H, m->eps);
        const struct vt_gemm_ex up = {.flags = VT_GEMM_GELU | VT_GEMM_C_STRIPS};
        vt_gemm_packed_ex(p.tmp, L->up, L->b_up, p.inter, T, &up);
        const struct vt_gemm_ex down = {.flags = VT_GEMM_A_STRIPS, .add = p.tmp};
        vt_gemm_packed_ex(p.inter, L->down, L->b_down, p.x, T, &down);
        vt_layernorm(p.x, L->ln2_g, L->ln2_b, T, H, m->eps);
    }
    for (size_t s = 0; s < nseq; s++) {
        const float *rows = p.x + p.start[s] * H;
        float *o = out + s * H;
        size_t n = len[s];
        switch (m->pool) {
        case POOL_CLS:
            memcpy(o, rows, H * sizeof *o);
            break;
        case POOL_LAST:
            memcpy(o, rows + (n - 1) * H, H * sizeof *o);
            break;
        case POOL_MAX:
            memcpy(o, rows, H * sizeof *o);
            for (size_t i = 1; i < n; i++)
                for (size_t j = 0; j < H; j++)
                    o[j] = rows[i * H + j] > o[j] ? rows[i * H + j] : o[j];
            break;
        case POOL_MEAN:
            memset(o, 0, H * sizeof *o);
            for (size_t i = 0; i < n; i++)
                vt_add(o, rows + i * H, H);
            vt_scale(o, 1.0f / (float)n, H);
            break;
        }
        if (m->normalize)
            vt_l2_normalize(o, H);
    }
    return 0;
}

/* Texts' ids into vectors: the texts packed end to end, as many per pass
 * as the pass budget allows. 0 or VT_ENOMEM. */
static int encode_ids(const struct bert *m, struct bert_work *w, const int32_t *const *ids,
                      const size_t *len, size_t count, int par, float *out)
{
    size_t per_token = (6 * m->hidden + m->inter) * sizeof(float);
    size_t budget = PASS_BYTES / per_token;
    if (budget > PASS_MAX_TOKENS)
        budget = PASS_MAX_TOKENS;
    if (budget < m->max_tokens)
        budget = m->max_tokens;
    for (size_t i = 0; i < count;) {
        size_t j = i, tokens = 0;
        while (j < count && (j == i || tokens + len[j] <= budget))
            tokens += len[j++];
        int rc = forward(m, w, ids + i, len + i, j - i, par, out + i * m->hidden);
        if (rc)
            return rc;
        i = j;
    }
    return 0;
}

/*
 * A call with at least one text per thread is split into runs of
 * consecutive texts (one per thread, or more for long calls), balanced by
 * tokens, each encoded start to
 * finish on its thread with its own work area (its products then run on
 * that thread: the pool is taken). One hand-off per call instead of one
 * per product. Every row of every product depends only on its own text, so
 * the vectors are those of an unsplit call, bit for bit.
 */
#define SPLIT_MAX 16
/* Tokens a run keeps at least when a call is split into more runs than
 * threads: a smaller run makes thinner products, which cost more than the
 * balance gains (32 short queries stay in one run per thread; 32
 * descriptions make four per thread). */
#define RUN_MIN_TOKENS 256

struct split_job {
    struct bert *m;
    int32_t **ids;
    const size_t *len;
    size_t bound[SPLIT_MAX + 1];   /* run r is texts [bound[r], bound[r + 1]) */
    float *out;
    int rc[SPLIT_MAX];
};

static void split_task(void *arg, size_t r)
{
    struct split_job *j = arg;
    size_t first = j->bound[r];
    struct bert_work *w = work_get(j->m);
    j->rc[r] = w ? encode_ids(j->m, w, (const int32_t *const *)j->ids + first, j->len + first,
                              j->bound[r + 1] - first, 0, j->out + first * j->m->hidden)
                 : VT_ENOMEM;
    work_put(j->m, w);
}

static int encode_split(struct bert *m, int32_t **ids, const size_t *len, size_t count,
                        size_t runs, float *out)
{
    struct split_job j = {.m = m, .ids = ids, .len = len, .out = out};
    size_t total = 0, acc = 0, i = 0;
    for (size_t k = 0; k < count; k++)
        total += len[k] + 1;
    /* run r - 1 ends once the tokens so far reach r / runs of the total,
     * with at least one text in every run */
    for (size_t r = 1; r < runs; r++) {
        size_t goal = (size_t)((double)total * (double)r / (double)runs);
        while (i < count - (runs - r) && (i < j.bound[r - 1] + 1 || acc < goal))
            acc += len[i++] + 1;
        j.bound[r] = i;
    }
    j.bound[runs] = count;
    vt_pool_run(vt_pool_shared(), split_task, &j, runs);
    for (size_t r = 0; r < runs; r++)
        if (j.rc[r])
            return j.rc[r];
    return 0;
}

int bert_pass_encode(struct bert *m, int32_t **ids, const size_t *len, size_t count,
                     float *out)
{
    size_t threads = vt_pool_threads(vt_pool_shared());
    threads = threads < SPLIT_MAX ? threads : SPLIT_MAX;
    if (threads > 1 && count >= threads) {
        /* Up to four runs per thread while each keeps RUN_MIN_TOKENS: a
         * run taken by a thread that another process then holds off the
         * CPU delays only itself, and the other threads take the rest. */
        size_t tokens = 0;
        for (size_t i = 0; i < count; i++)
            tokens += len[i];
        size_t runs = tokens / RUN_MIN_TOKENS;
        runs = runs < 4 * threads ? runs : 4 * threads;
        runs = runs > threads ? runs : threads;
        runs = runs < count ? runs : count;
        return encode_split(m, ids, len, count, runs < SPLIT_MAX ? runs : SPLIT_MAX, out);
    }
    struct bert_work *w = work_get(m);
    if (!w)
        return VT_ENOMEM;
    int rc = encode_ids(m, w, (const int32_t *const *)ids, len, count, 1, out);
    work_put(m, w);
    return rc;
}

void bert_pass_cache_free(struct bert *m)
{
    for (size_t i = 0; i < m->n_work; i++)
        work_free(m->work[i]);
    m->n_work = 0;
}
