/*
 * attrs_vocab.c - the attribute vocabulary: the built-in bilingual lexicon
 * of colours, materials and product types, and what catalog items add to
 * it (rules in attrs.h).
 *
 * Invariant: the map holds every proper prefix of every surface (kind
 * KIND_PREFIX, no value) so the extractor's longest-match scan can stop as
 * soon as no surface continues.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/attrs.h"
#include "text/attrs_int.h"
#include "text/normalize.h"

/* ---- built-in lexicon ------------------------------------------------------
 * Canonical values are plain English (basic colour names, the commonest
 * material and product-type words); surfaces are '|'-separated, already in
 * cleaned form (lower case, NFKC). Chinese one-character forms are listed
 * too: the extractor only accepts them as words of their own. */
struct lex {
    uint8_t kind;
    const char *value;
    const char *surfaces;
};

static const struct lex lexicon[] = {
    /* colours */
    {VT_ATTR_COLOUR, "black", "黑色|黑|纯黑|哑光黑|black"},
    {VT_ATTR_COLOUR, "white", "白色|白|纯白|乳白|乳白色|象牙白|white|ivory"},
    {VT_ATTR_COLOUR, "grey", "灰色|灰|深灰|深灰色|浅灰|浅灰色|银灰色|grey|gray|light grey|"
                             "dark grey|light gray|dark gray|charcoal"},
    {VT_ATTR_COLOUR, "red", "红色|红|大红|酒红|酒红色|red|burgundy|wine red"},
    {VT_ATTR_COLOUR, "blue", "蓝色|蓝|深蓝|深蓝色|浅蓝|浅蓝色|天蓝色|藏青|藏青色|blue|navy|"
                             "navy blue|light blue|dark blue"},
    {VT_ATTR_COLOUR, "green", "绿色|绿|墨绿|墨绿色|浅绿色|green|olive|dark green"},
    {VT_ATTR_COLOUR, "yellow", "黄色|黄|姜黄|姜黄色|yellow|mustard"},
    {VT_ATTR_COLOUR, "orange", "橙色|橘色|橙|orange"},
    {VT_ATTR_COLOUR, "pink", "粉色|粉红|粉红色|粉|pink"},
    {VT_ATTR_COLOUR, "purple", "紫色|紫|purple|violet"},
    {VT_ATTR_COLOUR, "brown", "棕色|褐色|咖啡色|咖色|棕|brown|chocolate"},
    {VT_ATTR_COLOUR, "beige", "米色|米白|米白色|米黄|米黄色|杏色|卡其|卡其色|beige|cream|khaki"},
    {VT_ATTR_COLOUR, "gold", "金色|金|香槟金|gold|golden"},
    {VT_ATTR_COLOUR, "silver", "银色|银|silver"},
    {VT_ATTR_COLOUR, "natural", "原木色|木色|natural"},
    {VT_ATTR_COLOUR, "transparent", "透明|transparent"},
    {VT_ATTR_COLOUR, "multicolour", "彩色|多色|multicolour|multicolor|colourful|colorful"},
    /* materials */
    {VT_ATTR_MATERIAL, "leather", "真皮|皮革|皮|牛皮|头层牛皮|头层皮|leather|genuine leather|"
                                  "cowhide"},
    {VT_ATTR_MATERIAL, "faux leather", "人造革|pu皮|仿皮|faux leather|pu leather|leatherette"},
    {VT_ATTR_MATERIAL, "fabric", "布艺|布|fabric|cloth|textile"},
    {VT_ATTR_MATERIAL, "cotton", "棉|纯棉|全棉|cotton"},
    {VT_ATTR_MATERIAL, "linen", "亚麻|棉麻|linen"},
    {VT_ATTR_MATERIAL, "wool", "羊毛|毛呢|wool"},
    {VT_ATTR_MATERIAL, "silk", "丝绸|真丝|silk"},
    {VT_ATTR_MATERIAL, "velvet", "丝绒|天鹅绒|绒布|velvet"},
    {VT_ATTR_MATERIAL, "solid wood", "实木|solid wood|hardwood"},
    {VT_ATTR_MATERIAL, "wood", "木|木质|木头|原木|wood|wooden|timber"},
    {VT_ATTR_MATERIAL, "oak", "橡木|oak"},
    {VT_ATTR_MATERIAL, "walnut", "胡桃木|黑胡桃|walnut"},
    {VT_ATTR_MATERIAL, "pine", "松木|pine"},
    {VT_ATTR_MATERIAL, "beech", "榉木|beech"},
    {VT_ATTR_MATERIAL, "teak", "柚木|teak"},
    {VT_ATTR_MATERIAL, "mahogany", "红木|mahogany"},
    {VT_ATTR_MATERIAL, "rosewood", "花梨木|rosewood"},
    {VT_ATTR_MATERIAL, "bamboo", "竹|竹子|竹制|bamboo"},
    {VT_ATTR_MATERIAL, "rattan", "藤|藤编|藤制|rattan|wicker"},
    {VT_ATTR_MATERIAL, "plywood", "多层板|胶合板|密度板|刨花板|plywood|mdf|particle board"},
    {VT_ATTR_MATERIAL, "metal", "金属|metal"},
    {VT_ATTR_MATERIAL, "steel", "钢|钢制|碳钢|steel"},
    {VT_ATTR_MATERIAL, "stainless steel", "不锈钢|stainless steel|stainless"},
    {VT_ATTR_MATERIAL, "iron", "铁|铁艺|iron|wrought iron"},
    {VT_ATTR_MATERIAL, "aluminium", "铝|铝合金|aluminium|aluminum"},
    {VT_ATTR_MATERIAL, "brass", "黄铜|brass"},
    {VT_ATTR_MATERIAL, "copper", "铜|紫铜|copper"},
    {VT_ATTR_MATERIAL, "glass", "玻璃|钢化玻璃|glass|tempered glass"},
    {VT_ATTR_MATERIAL, "marble", "大理石|marble"},
    {VT_ATTR_MATERIAL, "stone", "石材|岩板|石|stone|sintered stone"},
    {VT_ATTR_MATERIAL, "ceramic", "陶瓷|瓷|ceramic|porcelain"},
    {VT_ATTR_MATERIAL, "plastic", "塑料|塑胶|plastic"},
    {VT_ATTR_MATERIAL, "acrylic", "亚克力|acrylic"},
    {VT_ATTR_MATERIAL, "foam", "海绵|foam"},
    {VT_ATTR_MATERIAL, "memory foam", "记忆棉|memory foam"},
    {VT_ATTR_MATERIAL, "latex", "乳胶|latex"},
    {VT_ATTR_MATERIAL, "down", "羽绒"},
    /* product types */
    {VT_ATTR_CATEGORY, "sofa", "沙发|sofa|sofas|couch|couches|settee"},
    {VT_ATTR_CATEGORY, "sofa bed", "沙发床|sofa bed"},
    {VT_ATTR_CATEGORY, "armchair", "扶手椅|单人沙发|armchair|armchairs"},
    {VT_ATTR_CATEGORY, "chair", "椅子|椅|座椅|chair|chairs"},
    {VT_ATTR_CATEGORY, "office chair", "办公椅|电脑椅|office chair|desk chair"},
    {VT_ATTR_CATEGORY, "dining chair", "餐椅|dining chair"},
    {VT_ATTR_CATEGORY, "stool", "凳子|凳|板凳|stool|stools"},
    {VT_ATTR_CATEGORY, "bench", "长凳|长椅|bench"},
    {VT_ATTR_CATEGORY, "table", "桌子|桌|table|tables"},
    {VT_ATTR_CATEGORY, "coffee table", "茶几|咖啡桌|coffee table"},
    {VT_ATTR_CATEGORY, "side table", "边几|角几|边桌|side table|end table"},
    {VT_ATTR_CATEGORY, "dining table", "餐桌|dining table"},
    {VT_ATTR_CATEGORY, "desk", "书桌|写字台|办公桌|电脑桌|desk|desks"},
    {VT_ATTR_CATEGORY, "bed", "床|床架|bed|beds"},
    {VT_ATTR_CATEGORY, "bunk bed", "上下床|上下铺|bunk bed"},
    {VT_ATTR_CATEGORY, "crib", "婴儿床|crib|cot"},
    {VT_ATTR_CATEGORY, "mattress", "床垫|mattress"},
    {VT_ATTR_CATEGORY, "nightstand", "床头柜|nightstand|bedside table"},
    {VT_ATTR_CATEGORY, "wardrobe", "衣柜|衣橱|wardrobe|closet|armoire"},
    {VT_ATTR_CATEGORY, "cabinet", "柜子|柜|cabinet|cupboard"},
    {VT_ATTR_CATEGORY, "chest of drawers", "斗柜|五斗柜|抽屉柜|chest of drawers|dresser"},
    {VT_ATTR_CATEGORY, "bookcase", "书柜|书架|bookcase|bookshelf"},
    {VT_ATTR_CATEGORY, "shelf", "置物架|搁板|层架|shelf|shelves|shelving"},
    {VT_ATTR_CATEGORY, "tv stand", "电视柜|tv stand|tv cabinet|tv unit"},
    {VT_ATTR_CATEGORY, "shoe cabinet", "鞋柜|shoe cabinet|shoe rack"},
    {VT_ATTR_CATEGORY, "lamp", "灯|灯具|台灯|lamp|lamps|table lamp|desk lamp"},
    {VT_ATTR_CATEGORY, "floor lamp", "落地灯|floor lamp"},
    {VT_ATTR_CATEGORY, "pendant lamp", "吊灯|pendant lamp|pendant light|chandelier"},
    {VT_ATTR_CATEGORY, "ceiling light", "吸顶灯|ceiling light|ceiling lamp"},
    {VT_ATTR_CATEGORY, "mirror", "镜子|镜|mirror"},
    {VT_ATTR_CATEGORY, "rug", "地毯|rug|rugs|carpet"},
    {VT_ATTR_CATEGORY, "curtain", "窗帘|curtain|curtains"},
    {VT_ATTR_CATEGORY, "cushion", "抱枕|靠垫|cushion|cushions"},
    {VT_ATTR_CATEGORY, "pillow", "枕头|pillow"},
    {VT_ATTR_CATEGORY, "vase", "花瓶|vase"},
    {VT_ATTR_CATEGORY, "plant", "绿植|盆栽|植物|plant|plants"},
    {VT_ATTR_CATEGORY, "bathtub", "浴缸|bathtub"},
    {VT_ATTR_CATEGORY, "toilet", "马桶|坐便器|toilet"},
    {VT_ATTR_CATEGORY, "washbasin", "洗脸盆|洗手盆|台盆|washbasin|basin"},
    {VT_ATTR_CATEGORY, "sink", "水槽|sink"},
    {VT_ATTR_CATEGORY, "refrigerator", "冰箱|refrigerator|fridge"},
    {VT_ATTR_CATEGORY, "tv", "电视|电视机|tv|television"},
    {VT_ATTR_CATEGORY, "door", "门|door|doors"},
    {VT_ATTR_CATEGORY, "window", "窗户|窗|window|windows"},
};

const char *const vt_attr_kind_names[VT_ATTR_KINDS] = {"colour", "material", "brand", "size",
                                                      "category"};

const char *vt_attr_kind_name(int kind)
{
    return kind >= 0 && kind < VT_ATTR_KINDS ? vt_attr_kind_names[kind] : "unknown";
}

int vt_attr_kind_parse(const char *name)
{
    static const struct {
        const char *name;
        int kind;
    } keys[] = {
        {"colour", VT_ATTR_COLOUR}, {"color", VT_ATTR_COLOUR}, {"colours", VT_ATTR_COLOUR},
        {"colors", VT_ATTR_COLOUR}, {"颜色", VT_ATTR_COLOUR}, {"material", VT_ATTR_MATERIAL},
        {"materials", VT_ATTR_MATERIAL}, {"材质", VT_ATTR_MATERIAL},
        {"brand", VT_ATTR_BRAND}, {"品牌", VT_ATTR_BRAND}, {"size", VT_ATTR_SIZE},
        {"sizes", VT_ATTR_SIZE}, {"尺码", VT_ATTR_SIZE}, {"category", VT_ATTR_CATEGORY},
        {"type", VT_ATTR_CATEGORY}, {"类别", VT_ATTR_CATEGORY},
    };
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcasecmp(name, keys[i].name) == 0)
            return keys[i].kind;
    return -1;
}

/* ---- vocabulary -------------------------------------------------------------- */

size_t vt_attr_vocab_size(const struct vt_attr_vocab *v)
{
    return v->n_surfaces;
}

static int ent_new(struct vt_attr_vocab *v, uint8_t kind, uint64_t value, size_t *idx)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        struct vocab_ent *e = vt_realloc(v->ent, cap * sizeof *e);
        if (!e)
            return VT_ENOMEM;
        v->ent = e;
        v->cap = cap;
    }
    v->ent[v->n].kind = kind;
    v->ent[v->n].value = value;
    *idx = v->n++;
    return 0;
}

/* Insert a cleaned surface and all its proper prefixes (by code point). */
static int vocab_put(struct vt_attr_vocab *v, int kind, const char *value, size_t vn,
                     const char *s, size_t n)
{
    if (n == 0 || n > SURFACE_MAX_BYTES || vn == 0 || vn > SURFACE_MAX_BYTES)
        return VT_EINVAL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)vt_utf8_decode(s + i, n - i, &cp);
        uint64_t *cur = vt_strmap_get(&v->surf, s, i);
        if (cur) {
            if (i == n && v->ent[*cur].kind == KIND_PREFIX) {
                /* A prefix becomes a surface. */
                uint64_t off;
                if (vt_strmap_intern(&v->surf, value, vn, &off))
                    return VT_ENOMEM;
                v->ent[*cur].kind = (uint8_t)kind;
                v->ent[*cur].value = off;
                v->n_surfaces++;
            }
            continue; /* an existing surface keeps its first meaning */
        }
        size_t idx;
        uint64_t off = 0;
        if (i == n && vt_strmap_intern(&v->surf, value, vn, &off))
            return VT_ENOMEM;
        if (ent_new(v, i == n ? (uint8_t)kind : KIND_PREFIX, off, &idx) ||
            vt_strmap_put(&v->surf, s, i, idx, NULL, NULL))
            return VT_ENOMEM;
        if (i == n)
            v->n_surfaces++;
    }
    return 0;
}

/* Clean s for use as a surface or value: NFKC, case folding, spaces. */
static int clean_small(const char *s, char **out, size_t *n)
{
    if (!s)
        return VT_EINVAL;
    size_t len = strlen(s);
    if (len == 0 || len > 4 * SURFACE_MAX_BYTES)
        return VT_EINVAL;
    int rc = vt_text_clean(s, len, VT_TEXT_CLEAN_DEFAULT, out, n, NULL);
    if (rc)
        return rc;
    if (*n == 0 || *n > SURFACE_MAX_BYTES) {
        vt_free(*out);
        *out = NULL;
        return VT_EINVAL;
    }
    return 0;
}

int vt_attr_vocab_add(struct vt_attr_vocab *v, int kind, const char *value,
                      const char *surface)
{
    char *cv = NULL, *cs = NULL;
    size_t vn, sn;
    int rc;
    if (kind < 0 || kind >= VT_ATTR_KINDS)
        return VT_EINVAL;
    rc = clean_small(value, &cv, &vn);
    if (!rc)
        rc = clean_small(surface, &cs, &sn);
    if (!rc)
        rc = vocab_put(v, kind, cv, vn, cs, sn);
    vt_free(cv);
    vt_free(cs);
    return rc;
}

int vt_attr_vocab_new(struct vt_attr_vocab **out)
{
    struct vt_attr_vocab *v = vt_calloc(1, sizeof *v);
    *out = NULL;
    if (!v)
        return VT_ENOMEM;
    vt_strmap_init(&v->surf);
    for (size_t i = 0; i < sizeof lexicon / sizeof lexicon[0]; i++) {
        const struct lex *l = &lexicon[i];
        const char *s = l->surfaces;
        while (*s) {
            const char *bar = strchr(s, '|');
            size_t n = bar ? (size_t)(bar - s) : strlen(s);
            if (vocab_put(v, l->kind, l->value, strlen(l->value), s, n)) {
                vt_attr_vocab_free(v);
                return VT_ENOMEM;
            }
            s += n + (bar != NULL);
        }
    }
    *out = v;
    return 0;
}

void vt_attr_vocab_free(struct vt_attr_vocab *v)
{
    if (!v)
        return;
    vt_strmap_reset(&v->surf);
    vt_free(v->ent);
    vt_free(v);
}

/* Add value as a surface of kind; an existing surface of that kind lends
 * its canonical value ("黑色" → "black"). */
static int learn_value(struct vt_attr_vocab *v, int kind, const char *value)
{
    char *cv = NULL;
    size_t vn;
    if (clean_small(value, &cv, &vn))
        return 0; /* unusable: skipped */
    int rc = 0;
    const struct vocab_ent *e = vt_attr_vocab_get(v, cv, vn);
    if (!e) {
        rc = vocab_put(v, kind, cv, vn, cv, vn);
        if (rc == VT_EINVAL)
            rc = 0;
    }
    vt_free(cv);
    return rc;
}

static int learn_values(struct vt_attr_vocab *v, int kind, const json_t *val)
{
    if (json_is_string(val))
        return learn_value(v, kind, json_string_value(val));
    if (json_is_array(val)) {
        size_t i;
        const json_t *x;
        json_array_foreach(val, i, x)
        {
            if (json_is_string(x)) {
                int rc = learn_value(v, kind, json_string_value(x));
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* Longest built-in or learnt category surface that ends title (cleaned). */
static const struct vocab_ent *title_type(const struct vt_attr_vocab *v, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && t[i - 1] != ' ')
            continue;
        const struct vocab_ent *e = vt_attr_vocab_get(v, t + i, n - i);
        if (e && e->kind == VT_ATTR_CATEGORY)
            return e;
    }
    return NULL;
}

/* 1 if s contains a colour or material surface (any position). */
static int has_colour_or_material(const struct vt_attr_vocab *v, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        for (size_t j = i + 1; j <= n; j++) {
            if (j < n && ((unsigned char)s[j] & 0xC0) == 0x80)
                continue;
            uint64_t *idx = vt_strmap_get(&v->surf, s + i, j - i);
            if (!idx)
                break;
            uint8_t k = v->ent[*idx].kind;
            if (k == VT_ATTR_COLOUR || k == VT_ATTR_MATERIAL)
                return 1;
        }
    }
    return 0;
}

static int learn_titles(struct vt_attr_vocab *v, const json_t *title)
{
    const char *en = json_string_value(json_object_get(title, "en"));
    const char *zh = json_string_value(json_object_get(title, "zh"));
    char *ce = NULL, *cz = NULL;
    size_t en_n, zn;
    int rc = 0;
    if (!en || !zh || clean_small(en, &ce, &en_n))
        return 0;
    /* Drop trailing numbers and sizes ("Bed 140x190"). */
    while (en_n && (ce[en_n - 1] == ' ' || (ce[en_n - 1] >= '0' && ce[en_n - 1] <= '9') ||
                    ce[en_n - 1] == 'x'))
        en_n--;
    const struct vocab_ent *type = en_n ? title_type(v, ce, en_n) : NULL;
    if (!type || clean_small(zh, &cz, &zn))
        goto out;
    size_t cps = vt_utf8_len(cz, zn);
    int all_han = 1;
    for (size_t i = 0; i < zn;) {
        uint32_t cp;
        i += (size_t)vt_utf8_decode(cz + i, zn - i, &cp);
        all_han &= vt_is_han(cp);
    }
    if (all_han && cps >= 2 && cps <= 8 && !has_colour_or_material(v, cz, zn)) {
        char value[SURFACE_MAX_BYTES + 1];
        snprintf(value, sizeof value, "%s", vt_strmap_str(&v->surf, type->value));
        rc = vocab_put(v, VT_ATTR_CATEGORY, value, strlen(value), cz, zn);
        if (rc == VT_EINVAL)
            rc = 0;
    }
out:
    vt_free(ce);
    vt_free(cz);
    return rc;
}

static int learn_category(struct vt_attr_vocab *v, const char *path)
{
    const char *s = path;
    while (*s) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        char seg[4 * SURFACE_MAX_BYTES + 1];
        if (n > 0 && n < sizeof seg) {
            memcpy(seg, s, n);
            seg[n] = '\0';
            char *c = NULL;
            size_t cn;
            if (clean_small(seg, &c, &cn) == 0) {
                int rc = 0;
                if (!vt_attr_vocab_get(v, c, cn))
                    rc = vocab_put(v, VT_ATTR_CATEGORY, c, cn, c, cn);
                /* "sofas" → "sofa": a plural one-word English segment. */
                if (!rc && cn > 3 && c[cn - 1] == 's' && !memchr(c, ' ', cn) &&
                    !strchr("siu", c[cn - 2])) {
                    const struct vocab_ent *e = vt_attr_vocab_get(v, c, cn);
                    char val[SURFACE_MAX_BYTES + 1];
                    snprintf(val, sizeof val, "%s",
                             e ? vt_strmap_str(&v->surf, e->value) : c);
                    rc = vocab_put(v, VT_ATTR_CATEGORY, val, strlen(val), c, cn - 1);
                }
                vt_free(c);
                if (rc && rc != VT_EINVAL)
                    return rc;
            }
        }
        s += n + (slash != NULL);
    }
    return 0;
}

int vt_attr_vocab_add_item(struct vt_attr_vocab *v, const struct vt_item *it)
{
    int rc = 0;
    if (json_is_object(it->attributes)) {
        const char *key;
        json_t *val;
        json_object_foreach(it->attributes, key, val)
        {
            int kind = vt_attr_kind_parse(key);
            if (kind >= 0 && kind != VT_ATTR_CATEGORY && (rc = learn_values(v, kind, val)) != 0)
                return rc;
        }
    }
    if (it->category && (rc = learn_category(v, it->category)) != 0)
        return rc;
    if (json_is_array(it->tags)) {
        size_t i;
        json_t *t;
        json_array_foreach(it->tags, i, t)
        {
            const char *s = json_string_value(t);
            const char *colon = s ? strchr(s, ':') : NULL;
            char key[32];
            if (!colon || (size_t)(colon - s) >= sizeof key)
                continue;
            memcpy(key, s, (size_t)(colon - s));
            key[colon - s] = '\0';
            int kind = vt_attr_kind_parse(key);
            if (kind >= 0 && (rc = learn_value(v, kind, colon + 1)) != 0)
                return rc;
        }
    }
    if (json_is_object(it->title))
        rc = learn_titles(v, it->title);
    return rc;
}

/* Surface lookup: entry or NULL (prefix-only entries are not surfaces). */
const struct vocab_ent *vt_attr_vocab_get(const struct vt_attr_vocab *v, const char *s, size_t n)
{
    uint64_t *idx = vt_strmap_get(&v->surf, s, n);
    if (!idx || v->ent[*idx].kind == KIND_PREFIX)
        return NULL;
    return &v->ent[*idx];
}

