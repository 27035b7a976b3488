/*
 * attrs.h - attribute extraction from shopper text, in Chinese and English,
 * against a vocabulary built from the catalog.
 *
 *   "颜色：黑色，尺码：42"            → {"colour":"black","size":"42"}
 *   "black leather sofa under 2000"  → {"colour":"black","material":"leather",
 *                                       "category":"sofa","price_max":2000}
 *   "200到500元的两米宽的床"          → {"price_min":200,"price_max":500,
 *                                       "currency":"CNY","width_cm":200,
 *                                       "category":"bed"}
 *
 * The vocabulary maps surface forms ("黑色", "黑", "black") to a kind and a
 * canonical value ("black"). vt_attr_vocab_new() starts from a built-in
 * bilingual lexicon of colours, materials and product types (attrs.c);
 * vt_attr_vocab_add_item() adds what a catalog item says about itself:
 *   - attributes colour/color/颜色, material/材质, brand/品牌, size/sizes/尺码
 *     (a string or an array of strings); a value that is already a surface
 *     of the same kind keeps that entry's canonical value ("黑色" → "black");
 *   - the category path, each segment a category ("Living room/Sofas" →
 *     "living room", "sofas", and "sofa" for a plural last word);
 *   - tags written "kind:value" ("colour:walnut", "brand:Moroso");
 *   - the titles: when the English title ends in a known product type
 *     ("Corner sofa" → sofa) the Chinese title (Han only, at most 8
 *     characters, no colour or material in it) becomes another surface of
 *     that type.
 * A surface keeps its first kind and value (the built-in lexicon first).
 *
 * Extraction works on the cleaned text (vt_text_clean, default flags) in
 * passes, each claiming the bytes it uses so later passes skip them:
 *   1. "key: value" pairs (颜色/colour, 尺码/size, 材质/material, 品牌/brand,
 *      价格/price, 宽/width, 深/depth, 高/height, 长/length, 尺寸/dimensions);
 *   2. dimensions: a number with a length unit (cm 厘米 公分 mm 毫米 m 米
 *      inch ft), optionally with an axis word before or after ("宽2米",
 *      "2米宽", "width 200cm", "200cm wide"), or "200x90x75 cm";
 *   3. sizes: "42码", "xl号", "size 42", "size m", standalone XS/XL/XXL/3XL;
 *   4. prices: bounds before the number ("under", "below", "less than",
 *      "up to", "over", "at least", "低于", "不超过", "高于", "至少"), after it
 *      ("以内", "以下", "以上", "起", "左右", "or less", "or more", "+"), ranges
 *      ("between 200 and 500", "200到500元", "200-500元", "¥200~500"), and a
 *      plain amount with a currency ("500元", "$80"). Numbers may be
 *      "2,000", "1.5k", "2千", "1.5万", or Chinese numerals with a unit
 *      ("三千元", "两米");
 *   5. vocabulary surfaces, longest first. Latin surfaces must sit on word
 *      boundaries; a one-character Chinese surface ("黑", "床") counts only
 *      when the segmenter makes it a word of its own or the rest of its word
 *      is another surface ("皮沙发" → leather + sofa), so 蓝牙 (Bluetooth) is
 *      not blue.
 *
 * Output object (keys present only when found):
 *   "colour", "material", "brand", "size"   strings, canonical values; the
 *                               first mention when several
 *   "category"                  string: the last category named, since the
 *                               head noun comes last in both languages
 *                               ("living room sofa", "客厅沙发")
 *   "price_min", "price_max"    numbers (bounds, inclusive)
 *   "price"                     number: an amount given without a bound
 *                               ("500元的台灯", "around 300")
 *   "currency"                  "CNY", "USD", "EUR" or "GBP" when a
 *                               currency sign or word was seen
 *   "width_cm", "depth_cm", "height_cm", "length_cm"   numbers, centimetres
 *   "dim_cm"                    number: a length with no axis ("1.8米床")
 *   "matches"                   array, always present, every match in text
 *                               order: {"kind", "value", "text", "start",
 *                               "end"}; start/end are byte offsets into the
 *                               cleaned text; value is a string or number
 * Kinds in "matches": colour material brand size category price price_min
 * price_max width_cm depth_cm height_cm length_cm dim_cm.
 *
 * The rest of the query (optional out-parameter) is the cleaned text with
 * every match removed except categories (what is being searched for):
 * "black leather sofa under 2000" → "sofa".
 *
 * Ownership: the vocabulary is freed with vt_attr_vocab_free(); the result
 * is a new json_t reference (json_decref it); *rest is freed with vt_free().
 * Thread-safety: building needs exclusive use; extraction only reads the
 * vocabulary and may run concurrently.
 */
#ifndef VT_TEXT_ATTRS_H
#define VT_TEXT_ATTRS_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"
#include "store/record.h"
#include "text/jieba.h"

enum vt_attr_kind {
    VT_ATTR_COLOUR,
    VT_ATTR_MATERIAL,
    VT_ATTR_BRAND,
    VT_ATTR_SIZE,
    VT_ATTR_CATEGORY,
    VT_ATTR_KINDS
};

/* "colour", "material", "brand", "size", "category". */
const char *vt_attr_kind_name(int kind);
/* The kind for a name or an attribute key in either language ("color",
 * "颜色", "sizes"), or -1. */
int vt_attr_kind_parse(const char *name);

struct vt_attr_vocab;

/* A vocabulary holding the built-in lexicon. Returns 0 or VT_ENOMEM. */
int vt_attr_vocab_new(struct vt_attr_vocab **out);
void vt_attr_vocab_free(struct vt_attr_vocab *v);

/* Add a surface form for a canonical value (both cleaned here; value
 * becomes lower case). An existing surface keeps its first meaning.
 * Returns 0, VT_EINVAL (bad kind, empty, over 64 bytes, invalid UTF-8) or
 * VT_ENOMEM. */
int vt_attr_vocab_add(struct vt_attr_vocab *v, int kind, const char *value,
                      const char *surface);

/* Learn from one catalog item (rules above). Returns 0 or VT_ENOMEM;
 * unusable strings are skipped. */
int vt_attr_vocab_add_item(struct vt_attr_vocab *v, const struct vt_item *it);

/* Number of surface forms. */
size_t vt_attr_vocab_size(const struct vt_attr_vocab *v);

/* Extract attributes from text[0..n). seg may be NULL (one-character
 * Chinese surfaces then count only between non-Han characters). rest may
 * be NULL. Errors: VT_EINVAL (invalid UTF-8), VT_ETOOBIG (over
 * VT_TEXT_MAX_BYTES), VT_ENOMEM. */
int vt_attr_extract(const struct vt_attr_vocab *v, const struct vt_jieba *seg,
                    const char *text, size_t n, json_t **out, char **rest,
                    struct vt_error *err);

#endif
