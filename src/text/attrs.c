/*
 * attrs.c - attribute extraction (see attrs.h for the passes and the
 * output); the vocabulary lives in attrs_vocab.c.
 *
 * Invariants: the extractor only reads the cleaned text through
 * bounds-checked helpers; every match claims its bytes in ex.cl and no pass
 * matches over a claimed byte, so matches never overlap.
 */
#include "text/attrs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"
#include "text/attrs_int.h"
#include "text/normalize.h"
#include "text/strmap.h"

/* ---- the extractor's view of the text ------------------------------------------ */

struct match {
    uint32_t start, end;
    const char *kind;
    json_t *value; /* owned */
};

struct ex {
    const char *c;
    size_t n;
    uint8_t *cl; /* per byte: 0 free, 1 claimed, 2 claimed but kept in the rest */
    const struct vt_attr_vocab *v;
    const struct vt_jieba *seg;
    struct vt_tokens toks;
    json_t *obj;
    struct match *m;
    size_t nm, capm;
    const char *currency;
    int oom;
};

static uint32_t cp_at(const struct ex *x, size_t p, size_t *len)
{
    uint32_t cp = 0;
    int l = p < x->n ? vt_utf8_decode(x->c + p, x->n - p, &cp) : 0;
    if (len)
        *len = (size_t)l;
    return l > 0 ? cp : 0;
}

static uint32_t cp_before(const struct ex *x, size_t p)
{
    if (p == 0)
        return 0;
    size_t q = p - 1;
    while (q > 0 && ((unsigned char)x->c[q] & 0xC0) == 0x80)
        q--;
    return cp_at(x, q, NULL);
}

static int is_wordch(uint32_t cp)
{
    return vt_is_latin_letter(cp) || (cp >= '0' && cp <= '9');
}

static int is_ascii_letter(char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int is_free(const struct ex *x, size_t a, size_t b)
{
    if (b > x->n)
        return 0;
    for (size_t i = a; i < b; i++)
        if (x->cl[i])
            return 0;
    return 1;
}

static void claim(struct ex *x, size_t a, size_t b, int keep)
{
    for (size_t i = a; i < b && i < x->n; i++)
        x->cl[i] = keep ? 2 : 1;
}

static size_t skip_sp(const struct ex *x, size_t p)
{
    while (p < x->n && x->c[p] == ' ')
        p++;
    return p;
}

/* Length of literal s at p (unclaimed), with word boundaries where s
 * begins or ends with an ASCII letter; 0 if absent. */
static size_t lit(const struct ex *x, size_t p, const char *s)
{
    if (p >= x->n || x->c[p] != s[0])
        return 0; /* the common case, before any strlen */
    size_t k = strlen(s);
    if (k == 0 || p + k > x->n || memcmp(x->c + p, s, k) != 0 || !is_free(x, p, p + k))
        return 0;
    if (is_ascii_letter(s[0]) && is_wordch(cp_before(x, p)))
        return 0;
    if (is_ascii_letter(s[k - 1]) && is_wordch(cp_at(x, p + k, NULL)))
        return 0;
    return k;
}

/* Literal s right after a number ("80cm", "100usd"): only its end needs a
 * word boundary. */
static size_t lit_suffix(const struct ex *x, size_t p, const char *s)
{
    if (p >= x->n || x->c[p] != s[0])
        return 0;
    size_t k = strlen(s);
    if (k == 0 || p + k > x->n || memcmp(x->c + p, s, k) != 0 || !is_free(x, p, p + k))
        return 0;
    if (is_ascii_letter(s[k - 1]) && is_wordch(cp_at(x, p + k, NULL)))
        return 0;
    return k;
}

/* Longest literal of a NULL-terminated list at p; *which gets its index. */
static size_t lit_any(const struct ex *x, size_t p, const char *const *list, int *which)
{
    size_t best = 0;
    for (int i = 0; list[i]; i++) {
        size_t k = lit(x, p, list[i]);
        if (k > best) {
            best = k;
            if (which)
                *which = i;
        }
    }
    return best;
}

/* Start of a list word ending at p (a space allowed between), or p. */
static size_t lit_before(const struct ex *x, size_t p, const char *const *list)
{
    size_t q = p;
    if (q > 0 && x->c[q - 1] == ' ')
        q--;
    for (int i = 0; list[i]; i++) {
        size_t k = strlen(list[i]);
        if (k <= q && lit(x, q - k, list[i]) == k)
            return q - k;
    }
    return p;
}

static void add_match(struct ex *x, size_t a, size_t b, const char *kind, json_t *value)
{
    if (!value) {
        x->oom = 1;
        return;
    }
    if (x->nm == x->capm) {
        size_t cap = x->capm ? x->capm * 2 : 16;
        struct match *m = vt_realloc(x->m, cap * sizeof *m);
        if (!m) {
            json_decref(value);
            x->oom = 1;
            return;
        }
        x->m = m;
        x->capm = cap;
    }
    x->m[x->nm++] = (struct match){(uint32_t)a, (uint32_t)b, kind, value};
    /* The first mention of each kind; the category is set at the end. */
    if (strcmp(kind, "category") != 0 && !json_object_get(x->obj, kind) &&
        json_object_set(x->obj, kind, value) != 0)
        x->oom = 1;
}

static json_t *number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(round(v * 1000) / 1000);
}

/* ---- numbers ------------------------------------------------------------------------ */

struct num {
    double v;
    size_t start, end;
    int chinese;   /* written in Chinese numerals */
    int k;         /* ended in "k" (thousands): prices only */
    int plain;     /* ASCII digits only, at most one '.' */
};

static int cn_digit(uint32_t cp)
{
    switch (cp) {
    case 0x96F6: case 0x3007: return 0; /* 零 〇 */
    case 0x4E00: return 1; /* 一 */
    case 0x4E8C: case 0x4E24: return 2; /* 二 两 */
    case 0x4E09: return 3; case 0x56DB: return 4; case 0x4E94: return 5;
    case 0x516D: return 6; case 0x4E03: return 7; case 0x516B: return 8;
    case 0x4E5D: return 9;
    default: return -1;
    }
}

static int cn_unit(uint32_t cp)
{
    switch (cp) {
    case 0x5341: return 10;    /* 十 */
    case 0x767E: return 100;   /* 百 */
    case 0x5343: return 1000;  /* 千 */
    case 0x4E07: return 10000; /* 万 */
    default: return 0;
    }
}

/* Chinese numerals: 三千 3000, 两万五 25000, 一千五百 1500, 十二 12. */
static int parse_cn_num(const struct ex *x, size_t p, struct num *out)
{
    uint32_t prev = cp_before(x, p);
    if (cn_digit(prev) >= 0 || cn_unit(prev))
        return 0;
    double total = 0, section = 0, digit = -1;
    int last_unit = 0, chars = 0, after_zero = 0;
    size_t q = p, len;
    for (;;) {
        uint32_t cp = cp_at(x, q, &len);
        int d = cn_digit(cp), u = cn_unit(cp);
        if (d < 0 && !u)
            break;
        if (chars++ > 12 || !is_free(x, q, q + len))
            return 0;
        if (d == 0) {
            after_zero = 1; /* 一百零五: a place holder */
        } else if (d > 0) {
            if (digit > 0)
                return 0; /* "三四" is not a number */
            digit = d;
        } else if (u == 10000) {
            total = (total + section + (digit > 0 ? digit : 0)) * 10000;
            section = 0;
            digit = -1;
            last_unit = u;
            after_zero = 0;
        } else {
            section += (digit > 0 ? digit : 1) * u;
            digit = -1;
            last_unit = u;
            after_zero = 0;
        }
        q += len;
    }
    if (chars == 0)
        return 0;
    /* A trailing digit after a unit is a tenth of it: 一千五 = 1500. */
    if (digit > 0 && last_unit >= 100 && !after_zero)
        section += digit * (last_unit / 10);
    else if (digit > 0)
        section += digit;
    out->v = total + section;
    out->start = p;
    out->end = q;
    out->chinese = 1;
    out->k = out->plain = 0;
    return out->v > 0;
}

/* A number at p. It must not continue a word ("mate60") unless after_x
 * (the second factor of "200x90"). */
static int parse_num_at(const struct ex *x, size_t p, struct num *out, int after_x)
{
    if (p >= x->n || x->cl[p])
        return 0;
    char c0 = x->c[p];
    if (!(c0 >= '0' && c0 <= '9'))
        return parse_cn_num(x, p, out);
    uint32_t prev = cp_before(x, p);
    if (!after_x && (is_wordch(prev) || prev == '.' || prev == ','))
        return 0;
    double v = 0;
    size_t q = p;
    int plain = 1;
    while (q < x->n && x->c[q] >= '0' && x->c[q] <= '9')
        v = v * 10 + (x->c[q++] - '0');
    /* Thousands groups: "2,000", "12,345,678". */
    while (q + 3 < x->n && x->c[q] == ',' && x->c[q + 1] >= '0' && x->c[q + 1] <= '9' &&
           x->c[q + 2] >= '0' && x->c[q + 2] <= '9' && x->c[q + 3] >= '0' && x->c[q + 3] <= '9' &&
           !(q + 4 < x->n && x->c[q + 4] >= '0' && x->c[q + 4] <= '9')) {
        v = v * 1000 + (x->c[q + 1] - '0') * 100 + (x->c[q + 2] - '0') * 10 + (x->c[q + 3] - '0');
        q += 4;
        plain = 0;
    }
    if (q + 1 < x->n && x->c[q] == '.' && x->c[q + 1] >= '0' && x->c[q + 1] <= '9') {
        double scale = 0.1;
        q++;
        while (q < x->n && x->c[q] >= '0' && x->c[q] <= '9') {
            v += (x->c[q++] - '0') * scale;
            scale /= 10;
        }
    }
    out->k = 0;
    size_t len;
    uint32_t next = cp_at(x, q, &len);
    if (next == 'k' && !is_wordch(cp_at(x, q + 1, NULL))) {
        v *= 1000;
        q++;
        out->k = 1;
        plain = 0;
    } else if (next == 0x5343 || next == 0x4E07) { /* 千 万 */
        v *= next == 0x5343 ? 1000 : 10000;
        q += len;
        plain = 0;
    }
    if (!is_free(x, p, q) || !isfinite(v))
        return 0;
    out->v = v;
    out->start = p;
    out->end = q;
    out->chinese = 0;
    out->plain = plain;
    return 1;
}

static int parse_num(const struct ex *x, size_t p, struct num *out)
{
    return parse_num_at(x, p, out, 0);
}

/* ---- units --------------------------------------------------------------------- */

struct unit {
    const char *s;
    double f;
};

static const struct unit length_units[] = {
    {"厘米", 1}, {"公分", 1}, {"毫米", 0.1}, {"米", 100}, {"centimeters", 1},
    {"centimetres", 1}, {"centimeter", 1}, {"centimetre", 1}, {"cm", 1}, {"millimeters", 0.1},
    {"millimetres", 0.1}, {"mm", 0.1}, {"meters", 100}, {"metres", 100}, {"meter", 100},
    {"metre", 100}, {"m", 100}, {"inches", 2.54}, {"inch", 2.54}, {"\"", 2.54},
    {"feet", 30.48}, {"foot", 30.48}, {"ft", 30.48}, {NULL, 0},
};

/* A length unit at p (one space allowed before it): its factor to cm and
 * the end, or 0. 米 followed by 色/白/黄 is a colour word (米色, 米白). */
static size_t length_unit(const struct ex *x, size_t p, const struct num *n, double *f)
{
    size_t q = skip_sp(x, p);
    if (q > p + 1)
        return 0;
    size_t best = 0;
    for (int i = 0; length_units[i].s; i++) {
        size_t k = lit_suffix(x, q, length_units[i].s);
        if (k > best) {
            int han = (unsigned char)length_units[i].s[0] >= 0x80;
            if (n->chinese && !han)
                continue;
            best = k;
            *f = length_units[i].f;
        }
    }
    if (!best)
        return 0;
    if (strncmp(x->c + q, "米", 3) == 0 && best == 3) {
        uint32_t nx = cp_at(x, q + 3, NULL);
        if (nx == 0x8272 || nx == 0x767D || nx == 0x9EC4) /* 色 白 黄 */
            return 0;
    }
    return q + best;
}

struct cur {
    const char *s;
    const char *code;
};

static const struct cur cur_prefix[] = {
    {"¥", "CNY"}, {"rmb", "CNY"}, {"cny", "CNY"}, {"us$", "USD"}, {"$", "USD"},
    {"usd", "USD"}, {"€", "EUR"}, {"eur", "EUR"}, {"£", "GBP"}, {"gbp", "GBP"}, {NULL, NULL},
};

static const struct cur cur_suffix[] = {
    {"元", "CNY"}, {"块钱", "CNY"}, {"块", "CNY"}, {"rmb", "CNY"}, {"cny", "CNY"},
    {"yuan", "CNY"}, {"人民币", "CNY"}, {"usd", "USD"}, {"dollars", "USD"}, {"dollar", "USD"},
    {"bucks", "USD"}, {"美元", "USD"}, {"美金", "USD"}, {"eur", "EUR"}, {"euros", "EUR"},
    {"euro", "EUR"}, {"€", "EUR"}, {"欧元", "EUR"}, {"gbp", "GBP"}, {"pounds", "GBP"},
    {"英镑", "GBP"}, {NULL, NULL},
};

static size_t currency(const struct ex *x, size_t p, const struct cur *list, const char **code)
{
    size_t best = 0;
    for (int i = 0; list[i].s; i++) {
        size_t k = list == cur_suffix ? lit_suffix(x, p, list[i].s) : lit(x, p, list[i].s);
        if (k > best) {
            best = k;
            *code = list[i].code;
        }
    }
    return best;
}

/* An amount: [currency] number [currency]. The number must not carry a
 * length unit or a size mark; Chinese numerals and "块" need care ("一块
 * 地毯" is one rug, not one yuan). */
struct amount {
    double v;
    size_t start, end;
    const char *code; /* NULL when no currency was written */
};

static int parse_amount(const struct ex *x, size_t p, struct amount *a, int cn_ok)
{
    const char *code = NULL;
    size_t q = p;
    size_t k = currency(x, q, cur_prefix, &code);
    if (k)
        q = skip_sp(x, q + k);
    struct num n;
    if (!parse_num(x, q, &n))
        return 0;
    q = n.end;
    double f;
    if (length_unit(x, q, &n, &f))
        return 0;
    size_t r = skip_sp(x, q);
    if (r <= q + 1) {
        const char *c2 = NULL;
        size_t k2 = currency(x, r, cur_suffix, &c2);
        if (k2 && strncmp(x->c + r, "块", 3) == 0 && k2 == 3 && n.chinese)
            k2 = 0;
        if (k2) {
            code = c2;
            q = r + k2;
        }
    }
    uint32_t nx = cp_at(x, skip_sp(x, q), NULL);
    if (!code && (nx == 0x7801 || nx == 0x53F7)) /* 码 号: a size */
        return 0;
    if (n.chinese && !code && !cn_ok)
        return 0; /* "一张", "两个": Chinese numerals need a currency or a bound */
    if (n.v < 0 || n.v > VT_PRICE_MAX)
        return 0;
    a->v = n.v;
    a->start = p;
    a->end = q;
    a->code = code;
    return 1;
}

/* ---- pass: prices ------------------------------------------------------------- */

static const char *const max_before[] = {
    "under", "below", "less than", "cheaper than", "up to", "at most", "no more than",
    "not more than", "not over", "max", "maximum", "budget", "budget of", "<=", "<",
    "≤", "低于", "少于", "不超过", "不到", "不高于", "小于", "最多", "最高", "顶多", "预算",
    NULL,
};
static const char *const min_before[] = {
    "over", "above", "more than", "at least", "min", "minimum", "starting at",
    "starting from", "upwards of", ">=", ">", "≥", "高于", "超过", "大于", "多于", "最少",
    "至少", "不低于", "起码", NULL,
};
static const char *const approx_before[] = {
    "around", "about", "approx", "approximately", "roughly", "约", "大约", "大概", NULL,
};
static const char *const max_after[] = {
    "以内", "以下", "之内", "内", "封顶", "or less", "or lower", "or below", "or under",
    "max", "and under", "and below", NULL,
};
static const char *const min_after[] = {
    "以上", "起", "起步", "or more", "or higher", "or above", "and up", "and above", NULL,
};
static const char *const approx_after[] = {"左右", "上下", "or so", NULL};
static const char *const range_sep[] = {"-", "~", "到", "至", "to", "and", NULL};
static const char *const price_words[] = {"价格", "价钱", "售价", "预算", "price",
                                          "budget", "priced", NULL};

static void set_currency(struct ex *x, const char *code)
{
    if (code && !x->currency) {
        x->currency = code;
        json_t *s = json_string(code);
        if (!s || json_object_set_new(x->obj, "currency", s) != 0)
            x->oom = 1;
    }
}

/* A range at p: [open] amount sep amount [之间]; returns its end or 0. */
static size_t price_range(struct ex *x, size_t p, int price_context)
{
    static const char *const open[] = {"between", "from", "介于", "在", NULL};
    int which = -1;
    size_t q = p, k = lit_any(x, p, open, &which);
    if (k)
        q = skip_sp(x, p + k);
    struct amount a, b;
    if (!parse_amount(x, q, &a, 1))
        return 0;
    size_t r = skip_sp(x, a.end);
    int sep = -1;
    size_t ks = lit_any(x, r, range_sep, &sep);
    if (!ks)
        return 0;
    if (!strcmp(range_sep[sep], "and") && which != 0)
        return 0; /* "and" only after "between" */
    r = skip_sp(x, r + ks);
    if (!parse_amount(x, r, &b, 1))
        return 0;
    size_t end = b.end;
    size_t kc = lit(x, skip_sp(x, end), "之间");
    if (kc)
        end = skip_sp(x, end) + kc;
    const char *sw = range_sep[sep];
    if (which == 0 && strcmp(sw, "and") && strcmp(sw, "-") && strcmp(sw, "to") && strcmp(sw, "到"))
        return 0; /* between A and B */
    if (which == 1 && strcmp(sw, "to") && strcmp(sw, "-"))
        return 0; /* from A to B */
    if (which >= 2 && !kc)
        return 0; /* 介于/在 A 到 B 之间 */
    if (!(price_context || a.code || b.code || kc || which == 0 || which == 1 ||
          lit_before(x, p, price_words) != p))
        return 0;
    double lo = fmin(a.v, b.v), hi = fmax(a.v, b.v);
    set_currency(x, a.code ? a.code : b.code);
    add_match(x, p, end, "price_min", number(lo));
    add_match(x, p, end, "price_max", number(hi));
    return end;
}

/* Without a currency, "over 2 years" and "超过3年" are not prices: what
 * follows a bare bound must not be a counted noun or another English word
 * (a few linking words excepted: "sofa under 2000 in black"). */
static int plausible_end(const struct ex *x, size_t end)
{
    static const char *const linking[] = {"for", "with", "in", "and", "or", "the", "a", NULL};
    static const char *const counters[] = {"年", "月", "天", "日", "周", "个", "人", "次", "件",
                                           "张", "把", "套", "岁", "小时", "分钟", "星期", "层",
                                           "座", "位", "斤", "公斤", "克", "瓦", NULL};
    size_t q = skip_sp(x, end);
    uint32_t cp = cp_at(x, q, NULL);
    if (is_wordch(cp))
        return lit_any(x, q, linking, NULL) != 0;
    return lit_any(x, q, counters, NULL) == 0;
}

/* A bound or plain amount at p; returns its end or 0. */
static size_t price_single(struct ex *x, size_t p, int price_context)
{
    struct amount a;
    const char *kind = NULL;
    size_t q = p, k;
    if ((k = lit_any(x, p, max_before, NULL)) != 0)
        kind = "price_max";
    else if ((k = lit_any(x, p, min_before, NULL)) != 0)
        kind = "price_min";
    else if ((k = lit_any(x, p, approx_before, NULL)) != 0)
        kind = "price";
    if (k)
        q = skip_sp(x, p + k);
    if (!parse_amount(x, q, &a, k != 0 || price_context))
        return 0;
    size_t end = a.end, r = skip_sp(x, a.end);
    if (!kind) {
        if ((k = lit_any(x, r, max_after, NULL)) != 0)
            kind = "price_max";
        else if ((k = lit_any(x, r, min_after, NULL)) != 0)
            kind = "price_min";
        else if ((k = lit_any(x, r, approx_after, NULL)) != 0)
            kind = "price";
        else if (a.code && (k = lit(x, a.end, "+")) != 0)
            kind = "price_min", r = a.end;
        if (k)
            end = r + k;
        else if (a.code || price_context)
            kind = "price";
    }
    if (!kind)
        return 0;
    if (!a.code && !price_context && (!strcmp(kind, "price") || !plausible_end(x, end)))
        return 0;
    set_currency(x, a.code);
    add_match(x, p, end, kind, number(a.v));
    return end;
}

static void pass_prices(struct ex *x)
{
    for (size_t p = 0; p < x->n; p++) {
        if (x->cl[p] || ((unsigned char)x->c[p] & 0xC0) == 0x80)
            continue;
        size_t end = price_range(x, p, 0);
        if (!end)
            end = price_single(x, p, 0);
        if (end) {
            /* "价格在200到500之间", "price under 300": the word goes too. */
            claim(x, lit_before(x, p, price_words), end, 0);
            p = end - 1;
        }
    }
}

/* ---- pass: dimensions -------------------------------------------------------------- */

static const char *const axis_words[] = {
    "宽度", "宽", "width", "深度", "深", "depth", "高度", "高", "height", "长度", "长", "length",
    NULL,
};
static const char *const axis_after[] = {
    "宽", "wide", "深", "deep", "高", "high", "tall", "长", "long", NULL,
};
static const char *const axis_keys[] = {"width_cm", "depth_cm", "height_cm", "length_cm"};

static int axis_of(const char *w)
{
    if (!strcmp(w, "宽度") || !strcmp(w, "宽") || !strcmp(w, "width") || !strcmp(w, "wide"))
        return 0;
    if (!strcmp(w, "深度") || !strcmp(w, "深") || !strcmp(w, "depth") || !strcmp(w, "deep"))
        return 1;
    if (!strcmp(w, "高度") || !strcmp(w, "高") || !strcmp(w, "height") || !strcmp(w, "high") ||
        !strcmp(w, "tall"))
        return 2;
    return 3;
}

static int is_times(const struct ex *x, size_t p, size_t *len)
{
    uint32_t cp = cp_at(x, p, len);
    return (cp == 'x' || cp == 0xD7 || cp == '*') && is_free(x, p, p + *len);
}

/* NUM x NUM [x NUM] unit at p → width, depth[, height]; end or 0. */
static size_t dims_product(struct ex *x, size_t p)
{
    struct num n[3];
    size_t q = p, len;
    int k = 0;
    while (k < 3 && parse_num_at(x, q, &n[k], k > 0) && !n[k].chinese && !n[k].k) {
        q = n[k].end;
        k++;
        size_t r = skip_sp(x, q);
        if (k < 3 && is_times(x, r, &len)) {
            r = skip_sp(x, r + len);
            if (r < x->n && x->c[r] >= '0' && x->c[r] <= '9') {
                q = r;
                continue;
            }
        }
        break;
    }
    if (k < 2)
        return 0;
    double f = 1;
    size_t end = length_unit(x, n[k - 1].end, &n[k - 1], &f);
    if (!end)
        return 0;
    for (int i = 0; i < k; i++)
        if (n[i].v * f <= 0 || n[i].v * f > VT_DIM_MAX_CM)
            return 0;
    for (int i = 0; i < k; i++)
        add_match(x, p, end, axis_keys[i], number(n[i].v * f));
    return end;
}

/* [axis] NUM unit [axis] at p; end or 0. */
static size_t dims_single(struct ex *x, size_t p, int default_axis, int unit_optional)
{
    int which = -1, axis = default_axis;
    size_t q = p, k = lit_any(x, p, axis_words, &which);
    if (k) {
        axis = axis_of(axis_words[which]);
        q = skip_sp(x, p + k);
        if (q < x->n && x->c[q] == ':')
            q = skip_sp(x, q + 1);
    }
    struct num n;
    if (!parse_num(x, q, &n) || n.k)
        return 0;
    double f = 1;
    size_t end = length_unit(x, n.end, &n, &f);
    if (!end) {
        if (!unit_optional || n.chinese)
            return 0;
        end = n.end; /* a bare number under a dimension key: centimetres */
    }
    if (axis < 0 && (k = lit_any(x, skip_sp(x, end), axis_after, &which)) != 0) {
        axis = axis_of(axis_after[which]);
        end = skip_sp(x, end) + k;
    }
    double cm = n.v * f;
    if (cm <= 0 || cm > VT_DIM_MAX_CM)
        return 0;
    add_match(x, p, end, axis >= 0 ? axis_keys[axis] : "dim_cm", number(cm));
    return end;
}

static void pass_dims(struct ex *x)
{
    for (size_t p = 0; p < x->n; p++) {
        if (x->cl[p] || ((unsigned char)x->c[p] & 0xC0) == 0x80)
            continue;
        size_t end = dims_product(x, p);
        if (!end)
            end = dims_single(x, p, -1, 0);
        if (end) {
            /* A bound word before a length belongs to it ("under 80cm"). */
            size_t s = lit_before(x, p, max_before);
            if (s == p)
                s = lit_before(x, p, min_before);
            claim(x, s, end, 0);
            p = end - 1;
        }
    }
}

/* ---- pass: sizes ---------------------------------------------------------------- */

static const char *const letter_sizes[] = {"xxxl", "xxl", "xl", "xs", "xxs", "2xl", "3xl",
                                           "4xl", "5xl", "6xl", "s", "m", "l", NULL};

static json_t *size_value(const char *s, size_t n)
{
    char buf[SURFACE_MAX_BYTES + 1];
    if (n > SURFACE_MAX_BYTES)
        n = SURFACE_MAX_BYTES;
    int letters = 1;
    for (size_t i = 0; i < n; i++) {
        buf[i] = s[i];
        if ((unsigned char)s[i] >= 0x80)
            letters = 0;
    }
    if (letters)
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');
    buf[n] = '\0';
    return json_string(buf);
}

/* A size token at p: ASCII number of at most 3 digits (".5" allowed) or a
 * letter size. */
static size_t size_token(const struct ex *x, size_t p, int letters_ok)
{
    struct num n;
    if (parse_num(x, p, &n) && n.plain && n.end - p <= 5 && n.v < 1000)
        return n.end;
    if (!letters_ok)
        return 0;
    int which;
    size_t k = lit_any(x, p, letter_sizes, &which);
    if (k && !is_wordch(cp_at(x, p + k, NULL)))
        return k + p;
    return 0;
}

static void pass_sizes(struct ex *x)
{
    static const char *const keys[] = {"size", "尺码", "码数", NULL};
    static const char *const marks[] = {"码", "号", NULL};
    static const char *const alone[] = {"xs", "xxs", "xl", "xxl", "xxxl", "2xl", "3xl", "4xl",
                                        "5xl", "6xl", NULL};
    static const char *const one_size[] = {"均码", "one size", "free size", NULL};
    for (size_t p = 0; p < x->n; p++) {
        if (x->cl[p] || ((unsigned char)x->c[p] & 0xC0) == 0x80)
            continue;
        size_t k, s = p, e = 0, vs = 0, ve = 0;
        if ((k = lit_any(x, p, one_size, NULL)) != 0) {
            add_match(x, p, p + k, "size", json_string("one size"));
            claim(x, p, p + k, 0);
            p += k - 1;
            continue;
        }
        if ((k = lit_any(x, p, keys, NULL)) != 0) {
            size_t q = skip_sp(x, p + k);
            if (q < x->n && x->c[q] == ':')
                q = skip_sp(x, q + 1);
            if ((e = size_token(x, q, 1)) != 0) {
                vs = q;
                ve = e;
            }
        } else if ((e = size_token(x, p, 1)) != 0) {
            size_t r = skip_sp(x, e);
            if ((k = lit_any(x, r, marks, NULL)) != 0) {
                vs = p;
                ve = e;
                e = r + k;
            } else if (lit_any(x, p, alone, NULL) == e - p) {
                vs = p;
                ve = e;
            } else {
                e = 0;
            }
        }
        if (e) {
            add_match(x, s, e, "size", size_value(x->c + vs, ve - vs));
            claim(x, s, e, 0);
            p = e - 1;
        }
    }
}

/* ---- pass: "key: value" ---------------------------------------------------------- */

enum { KEY_PRICE = VT_ATTR_KINDS, KEY_AXIS, KEY_DIMS };

struct kv_key {
    const char *s;
    int key;
    int axis;
};

static const struct kv_key kv_keys[] = {
    {"颜色", VT_ATTR_COLOUR, 0}, {"色彩", VT_ATTR_COLOUR, 0}, {"colour", VT_ATTR_COLOUR, 0},
    {"color", VT_ATTR_COLOUR, 0}, {"材质", VT_ATTR_MATERIAL, 0}, {"材料", VT_ATTR_MATERIAL, 0},
    {"面料", VT_ATTR_MATERIAL, 0}, {"material", VT_ATTR_MATERIAL, 0},
    {"品牌", VT_ATTR_BRAND, 0}, {"brand", VT_ATTR_BRAND, 0}, {"尺码", VT_ATTR_SIZE, 0},
    {"码数", VT_ATTR_SIZE, 0}, {"size", VT_ATTR_SIZE, 0}, {"类别", VT_ATTR_CATEGORY, 0},
    {"分类", VT_ATTR_CATEGORY, 0}, {"品类", VT_ATTR_CATEGORY, 0},
    {"category", VT_ATTR_CATEGORY, 0}, {"价格", KEY_PRICE, 0}, {"价钱", KEY_PRICE, 0},
    {"售价", KEY_PRICE, 0}, {"预算", KEY_PRICE, 0}, {"price", KEY_PRICE, 0},
    {"budget", KEY_PRICE, 0}, {"宽度", KEY_AXIS, 0}, {"宽", KEY_AXIS, 0},
    {"width", KEY_AXIS, 0}, {"深度", KEY_AXIS, 1}, {"深", KEY_AXIS, 1}, {"depth", KEY_AXIS, 1},
    {"高度", KEY_AXIS, 2}, {"高", KEY_AXIS, 2}, {"height", KEY_AXIS, 2},
    {"长度", KEY_AXIS, 3}, {"长", KEY_AXIS, 3}, {"length", KEY_AXIS, 3},
    {"尺寸", KEY_DIMS, 0}, {"规格", KEY_DIMS, 0}, {"dimensions", KEY_DIMS, 0},
    {"dims", KEY_DIMS, 0}, {NULL, 0, 0},
};

static int is_sep(uint32_t cp)
{
    return cp == ',' || cp == ';' || cp == 0xFF0C || cp == 0xFF1B || cp == 0x3001 ||
           cp == '|' || cp == '\n' || cp == 0;
}

/* Longest vocabulary surface of one kind inside [p, e). */
static size_t vocab_in(const struct ex *x, size_t p, size_t e, int kind,
                       const struct vocab_ent **out)
{
    size_t best = 0;
    for (size_t q = p + 1; q <= e; q++) {
        if (q < e && ((unsigned char)x->c[q] & 0xC0) == 0x80)
            continue;
        uint64_t *idx = vt_strmap_get(&x->v->surf, x->c + p, q - p);
        if (!idx)
            break;
        const struct vocab_ent *ve = &x->v->ent[*idx];
        if (ve->kind == kind && (q == e || !is_wordch(cp_at(x, q, NULL)) ||
                                 !is_ascii_letter(x->c[q - 1]))) {
            best = q - p;
            *out = ve;
        }
    }
    return best;
}

static void pass_kv(struct ex *x)
{
    for (size_t p = 0; p < x->n; p++) {
        if (x->cl[p] || ((unsigned char)x->c[p] & 0xC0) == 0x80)
            continue;
        size_t k = 0;
        const struct kv_key *key = NULL;
        for (int i = 0; kv_keys[i].s; i++) {
            size_t kk = lit(x, p, kv_keys[i].s);
            if (kk > k) {
                k = kk;
                key = &kv_keys[i];
            }
        }
        if (!k)
            continue;
        size_t q = skip_sp(x, p + k);
        if (q >= x->n || (x->c[q] != ':' && x->c[q] != '='))
            continue;
        size_t vs = skip_sp(x, q + 1), ve = vs, len;
        while (ve < x->n && !is_sep(cp_at(x, ve, &len)) && !x->cl[ve])
            ve += len;
        while (ve > vs && x->c[ve - 1] == ' ')
            ve--;
        if (ve == vs)
            continue;
        size_t end = 0;
        if (key->key == KEY_PRICE) {
            end = price_range(x, vs, 1);
            if (!end)
                end = price_single(x, vs, 1);
        } else if (key->key == KEY_AXIS) {
            end = dims_single(x, vs, key->axis, 1);
        } else if (key->key == KEY_DIMS || key->key == VT_ATTR_SIZE) {
            end = dims_product(x, vs);
            if (!end && key->key == KEY_DIMS)
                end = dims_single(x, vs, -1, 1);
            if (!end && key->key == VT_ATTR_SIZE) {
                end = ve;
                add_match(x, p, end, "size", size_value(x->c + vs, ve - vs));
            }
        } else {
            const struct vocab_ent *e = NULL;
            size_t m = vocab_in(x, vs, ve, key->key, &e);
            json_t *val;
            if (m) {
                val = json_string(vt_strmap_str(&x->v->surf, e->value));
                end = vs + m;
            } else {
                val = json_stringn(x->c + vs, ve - vs > SURFACE_MAX_BYTES ? SURFACE_MAX_BYTES
                                                                         : ve - vs);
                end = ve;
            }
            add_match(x, p, end, vt_attr_kind_names[key->key], val);
        }
        if (end) {
            claim(x, p, end, key->key == VT_ATTR_CATEGORY);
            p = end - 1;
        }
    }
}

/* ---- pass: vocabulary ---------------------------------------------------------------- */

/* Index of the token holding byte p (tokens cover the text in order). */
static size_t token_at(const struct ex *x, size_t p)
{
    size_t lo = 0, hi = x->toks.n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (x->toks.v[mid].off <= p)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Longest surface starting at p (any kind, unclaimed); its end or 0. */
static size_t longest_at(const struct ex *x, size_t p, const struct vocab_ent **out)
{
    size_t best = 0;
    for (size_t q = p + 1; q <= x->n && q - p <= SURFACE_MAX_BYTES; q++) {
        if (q < x->n && ((unsigned char)x->c[q] & 0xC0) == 0x80)
            continue;
        if (x->cl[q - 1])
            break;
        uint64_t *idx = vt_strmap_get(&x->v->surf, x->c + p, q - p);
        if (!idx)
            break;
        const struct vocab_ent *e = &x->v->ent[*idx];
        if (e->kind == KIND_PREFIX)
            continue;
        /* Latin surfaces end on a word boundary. */
        if (is_wordch(cp_before(x, q)) && is_wordch(cp_at(x, q, NULL)))
            continue;
        best = q;
        *out = e;
    }
    return best;
}

static int single_han_ok(const struct ex *x, size_t p, size_t end)
{
    if (!x->seg) {
        return !vt_is_han(cp_before(x, p)) && !vt_is_han(cp_at(x, end, NULL));
    }
    if (x->toks.n == 0)
        return 0;
    const struct vt_token *t = &x->toks.v[token_at(x, p)];
    if (t->off == p && t->off + t->len == end)
        return 1;
    /* 皮|沙发 inside the word 皮沙发: the rest of the word is a surface. */
    const struct vocab_ent *e;
    size_t tend = t->off + t->len;
    return t->off == p && longest_at(x, end, &e) == tend;
}

static void pass_vocab(struct ex *x)
{
    for (size_t p = 0; p < x->n; p++) {
        if (x->cl[p] || ((unsigned char)x->c[p] & 0xC0) == 0x80)
            continue;
        uint32_t cp = cp_at(x, p, NULL);
        if (is_wordch(cp) && is_wordch(cp_before(x, p)))
            continue; /* not a word start */
        const struct vocab_ent *e = NULL;
        size_t end = longest_at(x, p, &e);
        if (!end)
            continue;
        size_t len;
        cp_at(x, p, &len);
        if (vt_is_han(cp) && end == p + len && !single_han_ok(x, p, end))
            continue;
        add_match(x, p, end, vt_attr_kind_names[e->kind], json_string(vt_strmap_str(&x->v->surf, e->value)));
        claim(x, p, end, e->kind == VT_ATTR_CATEGORY);
        p = end - 1;
    }
}

/* ---- the rest of the query -------------------------------------------------------------- */

static int is_punct_piece(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)vt_utf8_decode(s + i, n - i, &cp);
        if (vt_is_han(cp) || is_wordch(cp))
            return 0;
    }
    return 1;
}

static int build_rest(const struct ex *x, char **rest)
{
    struct vt_buf raw, out;
    vt_buf_init(&raw, 0);
    vt_buf_init(&out, 0);
    int rc = 0;
    for (size_t i = 0; i < x->n && !rc; i++) {
        if (x->cl[i] == 1) {
            if (i == 0 || x->cl[i - 1] != 1)
                rc = vt_buf_append(&raw, " ", 1);
            continue;
        }
        rc = vt_buf_append(&raw, x->c + i, 1);
    }
    /* Pieces between spaces: drop the punctuation-only ones, trim
     * punctuation and a dangling 的 at their edges. */
    const char *s = raw.data ? raw.data : "";
    while (!rc && *s) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        size_t n = (size_t)(e - s);
        const char *a = s;
        while (n && strchr(",;:.!?-~", *a)) {
            a++;
            n--;
        }
        while (n && strchr(",;:.!?-~", a[n - 1]))
            n--;
        if (n > 3 && !strncmp(a, "的", 3)) {
            a += 3;
            n -= 3;
        }
        if (n > 3 && !strncmp(a + n - 3, "的", 3))
            n -= 3;
        static const char *const loose[] = {"的", "或", "和", "或者", "or", "and", NULL};
        int is_loose = 0;
        for (int i = 0; loose[i]; i++)
            is_loose |= strlen(loose[i]) == n && !strncmp(a, loose[i], n);
        if (n && !is_punct_piece(a, n) && !is_loose) {
            if (out.len)
                rc = vt_buf_append(&out, " ", 1);
            if (!rc)
                rc = vt_buf_append(&out, a, n);
        }
        s = e;
    }
    if (!rc && !out.data)
        rc = vt_buf_append(&out, "", 0);
    if (!rc)
        *rest = vt_buf_steal(&out, NULL);
    vt_buf_reset(&raw);
    vt_buf_reset(&out);
    return rc;
}

/* ---- entry point --------------------------------------------------------------------- */

static int cmp_match(const void *a, const void *b)
{
    const struct match *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return 0;
}

int vt_attr_extract(const struct vt_attr_vocab *v, const struct vt_jieba *seg,
                    const char *text, size_t n, json_t **out, char **rest,
                    struct vt_error *err)
{
    struct ex x;
    int rc;

    memset(&x, 0, sizeof x);
    *out = NULL;
    if (rest)
        *rest = NULL;
    vt_tokens_init(&x.toks);
    x.v = v;
    x.seg = seg;
    char *c = NULL;
    rc = vt_text_clean(text, n, VT_TEXT_CLEAN_DEFAULT, &c, &x.n, err);
    if (rc)
        return rc;
    x.c = c;
    x.cl = vt_calloc(x.n + 1, 1);
    x.obj = json_object();
    if (!x.cl || !x.obj)
        goto oom;
    if (seg) {
        rc = vt_jieba_cut(seg, x.c, x.n, &x.toks, err);
        if (rc)
            goto out;
    }
    pass_kv(&x);
    pass_dims(&x);
    pass_sizes(&x);
    pass_prices(&x);
    pass_vocab(&x);
    if (x.oom)
        goto oom;

    /* Bounds the wrong way round ("under 200 over 500") are swapped. */
    json_t *lo = json_object_get(x.obj, "price_min"), *hi = json_object_get(x.obj, "price_max");
    if (lo && hi && json_number_value(lo) > json_number_value(hi)) {
        json_incref(lo);
        json_incref(hi);
        json_object_set_new(x.obj, "price_min", hi);
        json_object_set_new(x.obj, "price_max", lo);
    }

    if (x.nm)
        qsort(x.m, x.nm, sizeof *x.m, cmp_match);
    json_t *arr = json_array();
    if (!arr || json_object_set_new(x.obj, "matches", arr) != 0)
        goto oom;
    for (size_t i = 0; i < x.nm; i++) {
        struct match *m = &x.m[i];
        json_t *o = json_pack("{s:s, s:O, s:s%, s:I, s:I}", "kind", m->kind, "value", m->value,
                              "text", x.c + m->start, (size_t)(m->end - m->start), "start",
                              (json_int_t)m->start, "end", (json_int_t)m->end);
        if (!o || json_array_append_new(arr, o) != 0)
            goto oom;
    }
    /* The category is the last one named: the head noun comes last in
     * both languages ("living room sofa", "客厅沙发"). */
    for (size_t i = x.nm; i-- > 0;) {
        if (!strcmp(x.m[i].kind, "category")) {
            if (json_object_set(x.obj, "category", x.m[i].value) != 0)
                goto oom;
            break;
        }
    }
    if (rest && build_rest(&x, rest) != 0)
        goto oom;
    *out = x.obj;
    x.obj = NULL;
    rc = 0;
    goto out;
oom:
    rc = vt_error_set(err, VT_ENOMEM, "text", "out of memory extracting attributes");
out:
    for (size_t i = 0; i < x.nm; i++)
        json_decref(x.m[i].value);
    vt_free(x.m);
    json_decref(x.obj);
    vt_tokens_reset(&x.toks);
    vt_free(x.cl);
    vt_free(c);
    return rc;
}
