/*
 * unigram_int.h - private to the Unigram tokenizer: the tokenizer struct
 * and the few building steps that unigram.c (the vocabulary, normalizers,
 * encoding and the GGUF constructor) shares with unigram_json.c (the
 * tokenizer.json reader). Not for use outside src/text/unigram*.c.
 *
 * A struct vt_unigram is built in one of two ways, both ending the same:
 *   1. unigram_vocab_build() the pieces and scores, set unk;
 *   2. unigram_add_added() the added tokens, fill steps[] (a map through
 *      unigram_charsmap_init()), pre[], prefix[] and suffix[];
 *   3. unigram_finish(), which checks every id and computes the digest.
 * On any error the caller frees the half-built struct with
 * vt_unigram_free(), which copes with every partial state.
 */
#ifndef VT_TEXT_UNIGRAM_INT_H
#define VT_TEXT_UNIGRAM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/unigram.h"

#define MAX_PIECES (16u << 20)
#define MAX_STEPS 32
#define MAX_SPECIALS 8


enum nkind { N_PRECOMPILED, N_STRIP, N_REPLACE, N_NFC, N_NFD, N_NFKC, N_NFKD, N_LOWER, N_SPM_WS };
enum prepend { PREPEND_NEVER, PREPEND_ALWAYS, PREPEND_FIRST };

struct nstep {
    enum nkind kind;
    int left, right;                /* N_STRIP */
    uint32_t *units;                /* N_PRECOMPILED: trie units... */
    size_t nunits;
    char *strs;                     /* ...and replacement strings */
    size_t nstrs;
    char *pat;                      /* N_REPLACE literal (run == 0) */
    size_t pat_len;
    int run;                        /* N_REPLACE run of one character (class) */
    uint32_t run_cp;                /* 0 with run_ws: white space */
    int run_ws;
    size_t run_min, run_max;
    char *content;
    size_t content_len;
};

struct pstep {
    int metaspace;                  /* 0: WhitespaceSplit */
    char repl[5];
    size_t repl_len;
    uint32_t repl_cp;
    enum prepend prepend;
    int split;
};

struct added {
    char *s;
    size_t len;
    int32_t id;
    uint8_t lstrip, rstrip, single_word, normalized;
};

struct slot {
    uint32_t id1;                   /* piece id + 1; 0 = empty */
    uint32_t len;                   /* bytes of the piece's prefix this slot holds */
};

struct vt_unigram {
    /* vocabulary */
    size_t n, pool_len;
    char *pool;
    uint32_t *off, *plen;           /* plen 0: a piece that can never match */
    double *score;
    struct slot *slots;
    size_t mask, max_piece;
    double unk_score;
    int32_t unk;
    /* pipeline */
    struct nstep steps[MAX_STEPS];
    size_t nsteps;
    struct pstep pre[MAX_STEPS];
    size_t npre;
    struct added *added;
    size_t nadded;
    uint8_t first_raw[256], first_norm[256];   /* first bytes of added tokens */
    int32_t prefix[MAX_SPECIALS], suffix[MAX_SPECIALS];
    size_t nprefix, nsuffix;
    size_t max_tokens;
    size_t vocab_size;
    uint64_t digest;
};

/* Length of the UTF-8 sequence starting with byte b (valid input). */
static inline size_t u8len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* s[0..n) as an owned NUL-terminated string (vt_free); NULL when out of
 * memory. s may hold NULs. */
char *unigram_dup_bytes(const char *s, size_t n);

/* Pieces (s[i], lens[i]) with their scores into u's vocabulary. VT_EFORMAT
 * for no pieces or too many, VT_ETOOBIG, VT_ENOMEM; name is for messages. */
int unigram_vocab_build(struct vt_unigram *u, const char *const *s, const size_t *lens,
                        const double *scores, size_t n, const char *name, struct vt_error *err);

/* Append an added token (copied). An empty one is skipped. VT_ETOOBIG past
 * the limit of added tokens, VT_ENOMEM; err is not filled. */
int unigram_add_added(struct vt_unigram *u, const char *s, size_t len, int32_t id, int lstrip,
                      int rstrip, int single_word, int normalized);

/* Decode a precompiled character map b[0..n) (the byte layout is in
 * unigram.c) into st, which becomes an N_PRECOMPILED step; n == 0 is the
 * identity. VT_EFORMAT with a message naming the map, VT_ENOMEM. */
int unigram_charsmap_init(struct nstep *st, const unsigned char *b, size_t n, const char *name,
                          struct vt_error *err);

/* The normalizer steps of u over s[0..n) (valid UTF-8), as an owned
 * NUL-terminated string in *out (vt_free), *out_len bytes, possibly 0.
 * VT_ENOMEM, or VT_EINVAL when a normalisation form refuses the text. */
int unigram_normalize_bytes(const struct vt_unigram *u, const char *s, size_t n, char **out,
                            size_t *out_len);

/* The vocabulary size, checks of every id, the unknown score (min_score
 * less a penalty) and the digest. VT_EFORMAT with a message. */
int unigram_finish(struct vt_unigram *u, double min_score, const char *name,
                   struct vt_error *err);

#endif
