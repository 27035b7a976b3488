/*
 * fuzz_attrs.c - libFuzzer target for attribute extraction and the
 * vocabulary builder (text/attrs.h).
 *
 * Input: one mode byte, then the payload.
 *   mode % 4 == 0: the payload is shopper text, extracted with the built-in
 *     vocabulary and jieba's dictionary (data/text, else a small built-in
 *     one); mode % 4 == 2: the same without a segmenter.
 *     Checks: extraction fails exactly when the bytes are not valid UTF-8
 *     (or too long); a result has a "matches" array whose entries have a
 *     kind, a value, 0 <= start < end <= length of the cleaned text, text
 *     equal to those bytes, and do not overlap; numbers are finite and
 *     prices within [0, 1e12], price_min <= price_max; the rest is valid
 *     UTF-8.
 *   mode % 4 == 1 or 3: the payload is an item as JSON; when it validates,
 *     it is added to a fresh vocabulary, and its titles and a fixed query
 *     are extracted with it (same checks).
 * Any crash, sanitizer report or abort() is a bug.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/util.h"
#include "store/record.h"
#include "text/attrs.h"
#include "text/jieba.h"
#include "text/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char builtin_dict[] = "沙发 3000 n\n真皮 800 n\n黑色 2000 n\n茶几 900 n\n"
                                   "客厅 1500 n\n的 300000 uj\n以内 500 f\n两米 20 m\n";

static struct vt_jieba *seg;
static struct vt_attr_vocab *vocab;

static void init(void)
{
    struct vt_error err;
    struct stat st;
    if (stat("data/text/jieba/dict.txt", &st) == 0) {
        if (vt_jieba_load("data/text/jieba/dict.txt", "data/text/jieba/dict.bin", &seg, &err))
            abort();
    } else {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz_attrs.%ld", (long)getpid());
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(builtin_dict, 1, sizeof builtin_dict - 1, f) != sizeof builtin_dict - 1 ||
            fclose(f) != 0 || vt_jieba_load(path, NULL, &seg, &err))
            abort();
        remove(path);
    }
    if (vt_attr_vocab_new(&vocab))
        abort();
}

static void check_number(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (v && (!json_is_number(v) || !isfinite(json_number_value(v))))
        abort();
    if (v && !strncmp(key, "price", 5) &&
        (json_number_value(v) < 0 || json_number_value(v) > 1e12))
        abort();
}

static void check_extract(const struct vt_attr_vocab *v, const struct vt_jieba *j,
                          const char *s, size_t n)
{
    json_t *o = NULL;
    char *rest = NULL, *c = NULL;
    size_t cn = 0;
    struct vt_error err;
    int valid = vt_text_check(s, n, NULL) == 0;
    int rc = vt_attr_extract(v, j, s, n, &o, &rest, &err);
    if (rc == VT_ENOMEM)
        return;
    if ((rc == 0) != valid && rc != VT_ETOOBIG)
        abort();
    if (rc != 0) {
        if (o || rest)
            abort();
        return;
    }
    if (vt_text_clean(s, n, VT_TEXT_CLEAN_DEFAULT, &c, &cn, &err) != 0)
        abort(); /* extraction cleaned the same bytes */
    json_t *m = json_object_get(o, "matches");
    if (!json_is_array(m))
        abort();
    size_t i;
    json_t *x;
    json_int_t prev_end = 0;
    json_array_foreach(m, i, x)
    {
        json_int_t a = json_integer_value(json_object_get(x, "start"));
        json_int_t b = json_integer_value(json_object_get(x, "end"));
        const char *t = json_string_value(json_object_get(x, "text"));
        if (!json_is_string(json_object_get(x, "kind")) || !json_object_get(x, "value") ||
            a < 0 || b <= a || (size_t)b > cn || !t)
            abort();
        /* Matches are sorted; a range and its bound share one span. */
        if (a < prev_end && !(i > 0 && a == json_integer_value(json_object_get(
                                                  json_array_get(m, i - 1), "start"))))
            abort();
        if (strlen(t) != (size_t)(b - a) || memcmp(t, c + a, (size_t)(b - a)) != 0)
            abort();
        prev_end = b;
    }
    static const char *const nums[] = {"price", "price_min", "price_max", "width_cm", "depth_cm",
                                       "height_cm", "length_cm", "dim_cm"};
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
        check_number(o, nums[k]);
    json_t *lo = json_object_get(o, "price_min"), *hi = json_object_get(o, "price_max");
    if (lo && hi && json_number_value(lo) > json_number_value(hi))
        abort();
    size_t bad;
    if (!rest || (*rest && !vt_utf8_valid(rest, strlen(rest), &bad)))
        abort();
    vt_free(c);
    vt_free(rest);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!seg)
        init();
    if (size == 0)
        return 0;
    int mode = data[0] % 4;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (mode == 0 || mode == 2) {
        check_extract(vocab, mode == 0 ? seg : NULL, p, n);
        return 0;
    }
    json_t *j = json_loadb(p, n, 0, NULL);
    if (!j)
        return 0;
    struct vt_limits lim;
    struct vt_item it;
    struct vt_error err;
    struct vt_attr_vocab *v = NULL;
    vt_limits_default(&lim);
    vt_item_init(&it);
    if (vt_item_from_json(j, &lim, &it, &err) == 0 && vt_attr_vocab_new(&v) == 0) {
        if (vt_attr_vocab_add_item(v, &it) == 0) {
            static const char query[] = "颜色：黑色，200到500元 black oak sofa under $300";
            check_extract(v, seg, query, sizeof query - 1);
            const char *key;
            json_t *t;
            json_object_foreach(it.title, key, t)
            {
                const char *s = json_string_value(t);
                if (s)
                    check_extract(v, seg, s, strlen(s));
            }
        }
    }
    vt_attr_vocab_free(v);
    vt_item_reset(&it);
    json_decref(j);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Run each file named on the command line through the target once. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_attrs: %d inputs ran\n", argc - 1);
    return 0;
}
#endif
