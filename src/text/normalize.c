/*
 * normalize.c - text cleaning (NFKC, case and width folding, control and
 * space handling) and the script-count language guess.
 *
 * The work is done on UTF-32: utf8proc decomposes (compatibility mapping,
 * case folding, lumping, ignorables removed, our punctuation table applied
 * first through its custom hook), recomposes to NFKC, then one pass here
 * drops controls and collapses spaces while encoding back to UTF-8. Every
 * buffer is ours (utf8proc_map would allocate with malloc behind the
 * project's allocator).
 */
#include "text/normalize.h"

#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/util.h"

int vt_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0xF900 && cp <= 0xFAFF);
}

int vt_is_latin_letter(uint32_t cp)
{
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
        return 1;
    /* Latin-1 letters (not the multiplication and division signs), then
     * Latin Extended-A/B. */
    if (cp >= 0xC0 && cp <= 0x24F)
        return cp != 0xD7 && cp != 0xF7;
    return cp >= 0x1E00 && cp <= 0x1EFF; /* Latin Extended Additional */
}

int vt_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

int vt_text_check(const char *s, size_t n, struct vt_error *err)
{
    if (n > VT_TEXT_MAX_BYTES)
        return vt_error_set(err, VT_ETOOBIG, "text", "text is %zu bytes, over the limit of %zu",
                            n, VT_TEXT_MAX_BYTES);
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t len =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (len <= 0 || cp < 0) {
            int rc = vt_error_set(err, VT_EINVAL, "text",
                                  "invalid UTF-8 at byte %zu (0x%02X)", i, (unsigned char)s[i]);
            if (err)
                err->offset = (int64_t)i;
            return rc;
        }
        i += (size_t)len;
    }
    return 0;
}

/* CJK punctuation NFKC keeps, folded to ASCII before decomposition. */
static utf8proc_int32_t fold_punct(utf8proc_int32_t cp, void *data)
{
    (void)data;
    switch (cp) {
    case 0x3002: /* 。 */
    case 0xFF61: /* halfwidth ideographic full stop (NFKC would give 。) */
        return '.';
    case 0x3001: /* 、 */
    case 0xFF64:
        return ',';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: /* curly double quotes */
    case 0x300C: case 0x300D: case 0x300E: case 0x300F: /* 「」『』 */
    case 0x300A: case 0x300B:                           /* 《》 */
    case 0xFF62: case 0xFF63:
        return '"';
    case 0x3010: case 0x3014: case 0x3016: /* 【〔〖 */
        return '[';
    case 0x3011: case 0x3015: case 0x3017: /* 】〕〗 */
        return ']';
    default:
        return cp;
    }
}

int vt_text_clean(const char *s, size_t n, unsigned flags, char **out, size_t *out_len,
                  struct vt_error *err)
{
    utf8proc_int32_t *cps = NULL;
    char *res = NULL;
    int rc;

    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!s)
        n = 0;
    rc = vt_text_check(s, n, err);
    if (rc)
        return rc;

    utf8proc_option_t opt =
        UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_IGNORE | UTF8PROC_LUMP;
    if (flags & VT_TEXT_CASEFOLD)
        opt |= UTF8PROC_CASEFOLD;
    utf8proc_custom_func custom = (flags & VT_TEXT_FOLD_PUNCT) ? fold_punct : NULL;

    /* A well-formed input of n bytes has at most n code points; most text
     * does not grow under NFKC, so one pass usually suffices. */
    size_t cap = n + 1;
    utf8proc_ssize_t len = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t bytes;
        if (vt_mul_size(cap, sizeof *cps, &bytes)) {
            rc = vt_error_set(err, VT_ETOOBIG, "text", "text too long");
            goto out;
        }
        vt_free(cps);
        cps = vt_malloc(bytes);
        if (!cps) {
            rc = vt_error_set(err, VT_ENOMEM, "text", "out of memory normalising text");
            goto out;
        }
        len = n ? utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n,
                                            cps, (utf8proc_ssize_t)cap, opt, custom, NULL)
                : 0;
        if (len < 0) {
            /* vt_text_check() accepted the bytes, so this is unexpected. */
            rc = vt_error_set(err, VT_EINVAL, "text", "text cannot be normalised: %s",
                              utf8proc_errmsg(len));
            goto out;
        }
        if ((size_t)len <= cap)
            break;
        if ((size_t)len > VT_TEXT_MAX_CODEPOINTS) {
            rc = vt_error_set(err, VT_ETOOBIG, "text",
                              "text expands to %zd code points under NFKC, over the limit of %zu",
                              len, VT_TEXT_MAX_CODEPOINTS);
            goto out;
        }
        cap = (size_t)len;
    }
    if ((size_t)len > cap) {
        rc = vt_error_set(err, VT_EINTERNAL, "text", "normalisation did not converge");
        goto out;
    }
    len = utf8proc_normalize_utf32(cps, len, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (len < 0) {
        rc = vt_error_set(err, VT_EINTERNAL, "text", "normalisation failed: %s",
                          utf8proc_errmsg(len));
        goto out;
    }

    /* Re-encode: at most 4 bytes per code point, plus the NUL. */
    res = vt_malloc((size_t)len * 4 + 1);
    if (!res) {
        rc = vt_error_set(err, VT_ENOMEM, "text", "out of memory normalising text");
        goto out;
    }
    size_t o = 0;
    int pending_space = 0;
    for (utf8proc_ssize_t i = 0; i < len; i++) {
        uint32_t cp = (uint32_t)cps[i];
        if (vt_is_space(cp)) {
            pending_space = o > 0;
            continue;
        }
        if (is_control(cp))
            continue;
        if (pending_space) {
            res[o++] = ' ';
            pending_space = 0;
        }
        o += (size_t)vt_utf8_encode(cp, res + o);
    }
    res[o] = '\0';
    *out = res;
    res = NULL;
    if (out_len)
        *out_len = o;
    rc = 0;
out:
    vt_free(cps);
    vt_free(res);
    return rc;
}

enum vt_lang vt_text_lang(const char *s, size_t n)
{
    double han = 0, words = 0;
    int in_word = 0;
    size_t i = 0;
    while (s && i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t len =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (len <= 0) {
            i++;
            in_word = 0;
            continue;
        }
        i += (size_t)len;
        if (vt_is_latin_letter((uint32_t)cp)) {
            if (!in_word)
                words += 1;
            in_word = 1;
            continue;
        }
        in_word = 0;
        if (vt_is_han((uint32_t)cp))
            han += 1;
    }
    double total = han + 1.5 * words;
    if (total == 0)
        return VT_LANG_UNKNOWN;
    double share = han / total;
    if (share >= 0.85)
        return VT_LANG_ZH;
    if (share <= 0.15)
        return VT_LANG_EN;
    return VT_LANG_MIXED;
}

const char *vt_lang_name(enum vt_lang lang)
{
    switch (lang) {
    case VT_LANG_EN:
        return "en";
    case VT_LANG_ZH:
        return "zh";
    case VT_LANG_MIXED:
        return "mixed";
    default:
        return "unknown";
    }
}
