/*
 * glossary.h - a small hand-written Chinese → English glossary for home
 * furnishing and shopping words, consulted by the bridge (cedict.h) before
 * CC-CEDICT unless the bridge is made without it (vt_bridge_opts.no_glossary).
 *
 * It exists for words where CC-CEDICT's first sense is not the one a shop
 * means (茶几 "small side table" → "coffee table", 真皮 "dermis" → "leather",
 * 马桶 "chamber pot" → "toilet", 米 "rice" → "meter"), for frequent
 * compounds CC-CEDICT lacks (布艺, 电视柜, 床头柜), and for function words
 * that carry no meaning an embedding needs (的, 了, 很): those map to "" and
 * are dropped. docs/text.md explains how entries are chosen; keep it small.
 *
 * Thread-safety: constant data.
 */
#ifndef VT_TEXT_GLOSSARY_H
#define VT_TEXT_GLOSSARY_H

#include <stddef.h>

struct vt_gloss_entry {
    const char *zh; /* simplified Chinese word */
    const char *en; /* English, "" to drop the word */
};

/* The built-in table and its length. */
const struct vt_gloss_entry *vt_glossary_zh_en(size_t *n);

#endif
