/*
 * props.h - Java .properties files (the Sweet Home 3D catalog format).
 *
 * The input is untrusted bytes, read as ISO-8859-1 (each byte is the code
 * point of the same value) with \uXXXX escapes for everything else; keys and
 * values come out as UTF-8. The grammar is the one of java.util.Properties:
 *
 *   - a natural line ends at "\n", "\r" or "\r\n" (or at the end of input);
 *   - a line whose first non-blank character is '#' or '!' is a comment,
 *     a line of blanks (space, \t, \f) is ignored;
 *   - a line ending in an odd number of backslashes continues on the next
 *     one, whose leading blanks are dropped (a comment never continues; a
 *     backslash at the very end of input ends the line, as in Java);
 *   - the key runs up to the first unescaped '=', ':' or blank; blanks, then
 *     at most one '=' or ':', then blanks separate it from the value;
 *   - in key and value, \t \n \r \f stand for those controls, \uXXXX for a
 *     UTF-16 unit (a high surrogate must be followed by \u of a low one),
 *     and a backslash before any other character stands for that character.
 *
 * Stricter than Java, on purpose: a malformed \u escape, a lone surrogate and
 * U+0000 (raw or escaped) are errors with their line and column, and input,
 * line and entry counts are capped. A key given twice keeps its last value.
 *
 * Ownership: vt_props_parse/vt_props_load return a struct vt_props that the
 * caller frees with vt_props_free(); the strings returned by the getters live
 * as long as it. A parsed struct is read-only and safe to share.
 */
#ifndef VT_AR_PROPS_H
#define VT_AR_PROPS_H

#include <stddef.h>

#include "core/error.h"

#define VT_PROPS_MAX_INPUT (64u << 20)  /* bytes in one file */
#define VT_PROPS_MAX_LINE (1u << 20)    /* bytes in one logical line, decoded */
#define VT_PROPS_MAX_ENTRIES 1000000u

struct vt_props;

/* Parse len bytes (NUL bytes are errors, so data need not be a C string).
 * Errors: VT_EPARSE (bad escape, NUL; err->line/column/offset point at it),
 * VT_ETOOBIG (a cap above), VT_ENOMEM. */
int vt_props_parse(const char *data, size_t len, struct vt_props **out, struct vt_error *err);
/* Read and parse a file; VT_EIO (or VT_ENOTFOUND if it does not exist) with
 * the path in the message. Parse errors name the file too. */
int vt_props_load(const char *path, struct vt_props **out, struct vt_error *err);
void vt_props_free(struct vt_props *p);

/* The value of key, or NULL. */
const char *vt_props_get(const struct vt_props *p, const char *key);
/* Entries in first-seen order, for listing. */
size_t vt_props_count(const struct vt_props *p);
const char *vt_props_key_at(const struct vt_props *p, size_t i);
const char *vt_props_value_at(const struct vt_props *p, size_t i);

#endif
