/*
 * host.regex -- ECMAScript regular expressions on PCRE2, for the `pattern`
 * keyword of CloudFormation resource schemas (JSON Schema: an ECMA-262
 * pattern, matched anywhere in the string unless anchored).
 *
 *   regex.compile(pattern) -> re | nil, "regex: <message> at offset N"
 *   re:test(subject) -> true | false | nil, "regex: match limit exceeded"
 *   re:pattern() -> the pattern given to compile
 *
 * A wrong argument type, or using an re after __close, raises. A pattern
 * PCRE2 refuses returns nil and PCRE2's message with the 0-based byte offset
 * in the pattern as given; a match that exceeds the limits below returns nil,
 * "regex: match limit exceeded" (or "regex: matching depth limit exceeded",
 * "regex: heap limit exceeded"): the answer is unknown, not false. Subjects
 * are binary safe (NUL bytes are characters); a subject that is not valid
 * UTF-8 (a stray byte, an overlong form, an encoded surrogate) never matches:
 * test returns false. PCRE2 checks that itself (no PCRE2_NO_UTF_CHECK).
 *
 * The pattern is read as ECMAScript with no flags (no i, m, s) but the u
 * flag's view of characters: a surrogate pair is one character, as it is in
 * a UTF-8 subject.
 *  - compile options: PCRE2_UTF, PCRE2_ALT_BSUX (+ PCRE2_EXTRA_ALT_BSUX):
 *    \xHH, and \x not followed by two hex digits is "x", \U is "U";
 *    PCRE2_DOLLAR_ENDONLY: $ is the end of the subject only, not before a
 *    final newline; PCRE2_ALLOW_EMPTY_CLASS: [] never matches, [^] is any
 *    character; PCRE2_MATCH_UNSET_BACKREF: \1 before group 1 is set matches
 *    empty; PCRE2_NEVER_UCP: \d \w \b stay ASCII, as in ECMAScript;
 *    PCRE2_NEVER_BACKSLASH_C: \C could split a UTF-8 character.
 *  - rewritten before compiling (translate() below), where ECMAScript and
 *    PCRE2 read the same text differently:
 *    \uHHHH and \u{H...} become the code point; \uD83D\uDE00 (a surrogate
 *    pair) is one code point, U+1F600, in a class range too, so
 *    [\uD800\uDC00-\uDBFF\uDFFF] is U+10000-U+10FFFF. A lone surrogate can
 *    never match a UTF-8 subject: it is dropped from a class (a range is
 *    clipped to the code points around the surrogate block) and is (?!) (no
 *    match) elsewhere.
 *    \s and \S are ECMAScript's white space and line terminators (with
 *    U+00A0, U+FEFF, U+2028 ...), also \S inside a class; \v is U+000B, not
 *    PCRE2's vertical-space class.
 *    . matches anything but \n, \r, U+2028, U+2029 (anything inside (?s)).
 *    In a class, [ is a literal, ] right after [ or [^ ends it, and a class
 *    escape next to - makes the - literal ([\w-.] is \w, "-", ".").
 *    \p{Graph} and the other POSIX names of Java (Alpha, Alnum, ASCII, Blank,
 *    Cntrl, Digit, Lower, Print, Punct, Space, Upper, XDigit) are PCRE2's
 *    ASCII POSIX classes.
 *  - everything else is PCRE2's: lookahead, lookbehind (fixed length only:
 *    ECMAScript's variable-length lookbehind is refused), named groups,
 *    \k<name>, \b, \p{L} (PCRE2's short names and scripts; not long names
 *    such as \p{Letter}), and what ECMAScript lacks but schemas written in
 *    Java's or Python's syntax use: \A, \Z, \z, (?i), (?s), \Q...\E,
 *    possessive quantifiers, atomic groups.
 *    An escape of a letter with no meaning (\j) is a compile error, not "j".
 *    (?x) is refused: its comments would hide the text from the rewriting.
 *    In (?m), ^ and $ see only \n as a line end. Case-insensitive matching
 *    ((?i)) folds case as PCRE2 does. PCRE2 copies a group once per repeat,
 *    so a group under a large count ((...){1,900}) can pass its compiled
 *    size limit: "regex: regular expression is too large". A class cannot
 *    ([\S]{1,2048} is one class).
 *
 * Bounded work: every match runs under MATCH_LIMIT (10^6 backtracking
 * points, some 15 ms), DEPTH_LIMIT (250,000 nested ones: a group repeated
 * some 100,000 times) and HEAP_LIMIT (64 MiB), so catastrophic backtracking
 * ((a+)+$ on "aaa...b") returns the error value in milliseconds instead of
 * hanging. No JIT: the interpreter's limits are the ones that count.
 *
 * Each re owns its compiled code, match data and match context (freed by
 * __gc and __close); the translated pattern lives in malloc'd memory that no
 * Lua call can interrupt. Callers cache compiled objects in Lua.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <pcre2.h>

#include "host.h"

#define REGEX "lakehost.regex" /* shown by luaL_typeerror */

/* Backtracking points one match may visit: some 10-20 ms of work. */
#define MATCH_LIMIT 1000000u
/* Nested backtracking points (heap frames) one match may hold. */
#define DEPTH_LIMIT 250000u
/* Heap for those frames, in KiB. */
#define HEAP_LIMIT (64u * 1024u)

#define COMPILE_OPTIONS                                                          \
  (PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS | \
   PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C)
#ifdef PCRE2_EXTRA_ALT_BSUX /* PCRE2 >= 10.31: \u{H...} too (translate() does it anyway) */
#define COMPILE_EXTRA PCRE2_EXTRA_ALT_BSUX
#else
#define COMPILE_EXTRA 0
#endif

typedef struct {
  pcre2_code *code; /* NULL once closed */
  pcre2_match_data *md;
  pcre2_match_context *mc;
} Regex;

/* ---- the rewriting of an ECMAScript pattern into PCRE2 syntax ------------ */

/* ECMAScript's WhiteSpace and LineTerminator (\s), as code point ranges. */
static const uint32_t js_space[][2] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF},
};

/* Java's POSIX property names (\p{Graph}) and PCRE2's POSIX classes. */
static const char *const java_posix[][2] = {
    {"Alnum", "alnum"},  {"Alpha", "alpha"}, {"ASCII", "ascii"}, {"Blank", "blank"},
    {"Cntrl", "cntrl"},  {"Digit", "digit"}, {"Graph", "graph"}, {"Lower", "lower"},
    {"Print", "print"},  {"Punct", "punct"}, {"Space", "space"}, {"Upper", "upper"},
    {"XDigit", "xdigit"}};

/* The PCRE2 pattern being written, and for each of its bytes the offset in
 * the source pattern of what produced it (to report PCRE2's error offsets in
 * the source's terms). */
typedef struct {
  char *buf;
  size_t *src;
  size_t len, cap;
  int nomem;
} Out;

/* A translation failure found before PCRE2 sees the pattern. */
typedef struct {
  const char *msg; /* NULL: none */
  size_t at;
} Fail;

/* One element of a class: a character (cp, or raw text whose value only
 * PCRE2 knows, such as \o{101}), a set (\d, \p{L}: never a range end), or
 * ECMAScript's \s / \S. */
enum { A_CHAR, A_RAWCHAR, A_SET, A_SPACE, A_NOTSPACE };

typedef struct {
  int kind;
  uint32_t cp;      /* A_CHAR */
  size_t from, to;  /* source text (A_RAWCHAR, A_SET) */
  const char *text; /* A_SET made here (a POSIX class), else NULL */
  int negated;      /* of text */
} Atom;

static int grow(Out *o, size_t more) {
  size_t cap;
  char *b;
  size_t *s;
  if (o->nomem) return 0;
  if (o->len + more <= o->cap) return 1;
  cap = o->cap ? o->cap : 64;
  while (cap < o->len + more) {
    if (cap > SIZE_MAX / 2 / sizeof(size_t)) {
      o->nomem = 1;
      return 0;
    }
    cap *= 2;
  }
  b = (char *)realloc(o->buf, cap);
  if (b == NULL) {
    o->nomem = 1;
    return 0;
  }
  o->buf = b;
  s = (size_t *)realloc(o->src, cap * sizeof(size_t));
  if (s == NULL) {
    o->nomem = 1;
    return 0;
  }
  o->src = s;
  o->cap = cap;
  return 1;
}

/* Appends text made here, all of it standing for the source offset at. */
static void put(Out *o, const char *text, size_t n, size_t at) {
  size_t i;
  if (!grow(o, n)) return;
  for (i = 0; i < n; i++) {
    o->buf[o->len] = text[i];
    o->src[o->len++] = at;
  }
}

static void putstr(Out *o, const char *text, size_t at) { put(o, text, strlen(text), at); }

/* Appends s[from, to) unchanged. */
static void copy(Out *o, const char *s, size_t from, size_t to) {
  size_t i;
  if (to <= from || !grow(o, to - from)) return;
  for (i = from; i < to; i++) {
    o->buf[o->len] = s[i];
    o->src[o->len++] = i;
  }
}

/* A code point as \o{...}: read alike in a class or out of one, under
 * PCRE2_ALT_BSUX (which takes \x{...} for "x{...}") and in every mode. */
static void putcp(Out *o, uint32_t cp, size_t at) {
  char b[16];
  int n = snprintf(b, sizeof b, "\\o{%lo}", (unsigned long)cp);
  put(o, b, (size_t)n, at);
}

static void putspace(Out *o, size_t at) {
  size_t i;
  for (i = 0; i < sizeof js_space / sizeof js_space[0]; i++) {
    putcp(o, js_space[i][0], at);
    if (js_space[i][1] != js_space[i][0]) {
      put(o, "-", 1, at);
      putcp(o, js_space[i][1], at);
    }
  }
}

static int issurrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* n hex digits at s[i]; -1 if there are not n of them. */
static long hexn(const char *s, size_t len, size_t i, int n) {
  long v = 0;
  int k;
  if (i + (size_t)n > len) return -1;
  for (k = 0; k < n; k++) {
    int h = hexval((unsigned char)s[i + (size_t)k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* The escape \u... at s[i] (s[i] == '\\', s[i+1] == 'u'). Returns 1 with
 * *cp and *end (just after it) when it is a code point: \uHHHH, a pair
 * \uHHHH\uHHHH of a high and a low surrogate (one code point), or \u{H...}.
 * Returns 0 when it is a plain "u" (\u followed by neither). Sets f on a
 * \u{...} beyond U+10FFFF. */
static int escape_u(const char *s, size_t n, size_t i, uint32_t *cp, size_t *end, Fail *f) {
  long v = hexn(s, n, i + 2, 4), lo;
  if (v >= 0) {
    *cp = (uint32_t)v;
    *end = i + 6;
    if (v >= 0xD800 && v <= 0xDBFF && i + 7 < n && s[i + 6] == '\\' && s[i + 7] == 'u' &&
        (lo = hexn(s, n, i + 8, 4)) >= 0xDC00 && lo <= 0xDFFF) {
      *cp = 0x10000u + (((uint32_t)v - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
      *end = i + 12;
    }
    return 1;
  }
  if (i + 2 < n && s[i + 2] == '{') {
    size_t j = i + 3;
    uint32_t c = 0;
    while (j < n && hexval((unsigned char)s[j]) >= 0) {
      c = c * 16 + (uint32_t)hexval((unsigned char)s[j]);
      if (c > 0x10FFFF) {
        f->msg = "character code point value in \\u{} is too large";
        f->at = i;
        return 0;
      }
      j++;
    }
    if (j > i + 3 && j < n && s[j] == '}') {
      *cp = c;
      *end = j + 1;
      return 1;
    }
  }
  return 0;
}

/* Decodes the UTF-8 character at s[i]: its length, or 0 if it is not valid
 * (PCRE2 then reports the pattern's bad UTF-8 at that offset). */
static size_t utf8(const char *s, size_t n, size_t i, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s + i;
  size_t left = n - i, len, k;
  uint32_t c;
  if (u[0] < 0x80) {
    *cp = u[0];
    return 1;
  }
  if (u[0] >= 0xC2 && u[0] <= 0xDF) {
    len = 2;
    c = u[0] & 0x1F;
  } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
    len = 3;
    c = u[0] & 0x0F;
  } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
    len = 4;
    c = u[0] & 0x07;
  } else {
    return 0;
  }
  if (left < len) return 0;
  for (k = 1; k < len; k++) {
    if ((u[k] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (u[k] & 0x3F);
  }
  if ((len == 3 && (c < 0x800 || issurrogate(c))) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
    return 0;
  *cp = c;
  return len;
}

/* The end of a braced argument ({...}) starting at s[i], or i if none. */
static size_t braced(const char *s, size_t n, size_t i) {
  size_t j;
  if (i >= n || s[i] != '{') return i;
  for (j = i + 1; j < n; j++)
    if (s[j] == '}') return j + 1;
  return i;
}

/* \p{Name} with one of Java's POSIX names at s[i]: its PCRE2 class name. */
static const char *javaposix(const char *s, size_t n, size_t i, size_t *end) {
  size_t e = braced(s, n, i + 2), k;
  if (e == i + 2) return NULL;
  for (k = 0; k < sizeof java_posix / sizeof java_posix[0]; k++) {
    size_t len = strlen(java_posix[k][0]);
    if (e - (i + 3) - 1 == len && memcmp(s + i + 3, java_posix[k][0], len) == 0) {
      *end = e;
      return java_posix[k][1];
    }
  }
  return NULL;
}

/* The end of \Q...\E starting at s[i] (the end of the pattern without \E). */
static size_t quoted(const char *s, size_t n, size_t i) {
  size_t j;
  for (j = i + 2; j + 1 < n; j++)
    if (s[j] == '\\' && s[j + 1] == 'E') return j + 2;
  return n;
}

/* Reads one element of a class at s[*i] (not the closing ]) into a. */
static void class_atom(const char *s, size_t n, size_t *i, Atom *a, Fail *f) {
  size_t at = *i, end;
  uint32_t cp;
  int c;
  a->kind = A_CHAR;
  a->cp = 0;
  a->from = a->to = at;
  a->text = NULL;
  a->negated = 0;
  if (s[at] != '\\') {
    size_t len = utf8(s, n, at, &cp);
    if (len == 0) { /* not UTF-8: PCRE2 says where */
      a->kind = A_RAWCHAR;
    } else {
      a->cp = cp; /* [ included: a literal in ECMAScript */
    }
    *i = at + (len ? len : 1);
    a->to = *i;
    return;
  }
  if (at + 1 >= n) { /* a trailing \: PCRE2's error */
    a->kind = A_RAWCHAR;
    *i = a->to = n;
    return;
  }
  c = (unsigned char)s[at + 1];
  *i = at + 2;
  switch (c) {
    case 'u':
      if (escape_u(s, n, at, &cp, &end, f)) {
        a->cp = cp;
        *i = end;
      } else {
        a->cp = 'u';
      }
      break;
    case 's':
      a->kind = A_SPACE;
      break;
    case 'S':
      a->kind = A_NOTSPACE;
      break;
    case 'b':
      a->cp = 0x08;
      break;
    case 't':
      a->cp = 0x09;
      break;
    case 'n':
      a->cp = 0x0A;
      break;
    case 'v':
      a->cp = 0x0B;
      break;
    case 'f':
      a->cp = 0x0C;
      break;
    case 'r':
      a->cp = 0x0D;
      break;
    case 'x': { /* PCRE2_ALT_BSUX's reading, which is ECMAScript's */
      long v = hexn(s, n, at + 2, 2);
      a->cp = v >= 0 ? (uint32_t)v : 'x';
      if (v >= 0) *i = at + 4;
      break;
    }
    case 'c':
      if (at + 2 < n &&
          ((s[at + 2] >= 'a' && s[at + 2] <= 'z') || (s[at + 2] >= 'A' && s[at + 2] <= 'Z'))) {
        a->cp = (uint32_t)(s[at + 2] % 32);
        *i = at + 3;
      } else { /* PCRE2 decides what \c1 is */
        a->kind = A_RAWCHAR;
        if (at + 2 < n) *i = at + 3;
      }
      break;
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'h':
    case 'H':
    case 'V':
    case 'N':
    case 'R':
      a->kind = A_SET;
      break;
    case 'p':
    case 'P': {
      const char *name = javaposix(s, n, at, &end);
      a->kind = A_SET;
      if (name != NULL) {
        a->text = name;
        a->negated = c == 'P';
      }
      *i = name != NULL ? end : braced(s, n, at + 2);
      break;
    }
    case 'Q':
      a->kind = A_SET; /* quoted text: PCRE2 reads it */
      *i = quoted(s, n, at);
      break;
    default:
      if (c >= '0' && c <= '7') { /* Annex B: up to three octal digits, at most \377 */
        uint32_t v = (uint32_t)(c - '0');
        size_t j = at + 2;
        while (j < n && j < at + 4 && s[j] >= '0' && s[j] <= '7' &&
               v * 8 + (uint32_t)(s[j] - '0') <= 0377)
          v = v * 8 + (uint32_t)(s[j++] - '0');
        a->cp = v;
        *i = j;
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        /* \a, \e, \o{..}, \g, \k, ...: PCRE2's (and its error for the rest) */
        a->kind = A_RAWCHAR;
        *i = braced(s, n, at + 2);
      } else if (c >= 0x80) { /* \é is é */
        size_t len = utf8(s, n, at + 1, &cp);
        if (len == 0)
          a->kind = A_RAWCHAR; /* PCRE2 reports the bad UTF-8 */
        else
          a->cp = cp;
        *i = at + 1 + (len ? len : 1);
      } else { /* an escaped punctuation character, 8 or 9: itself */
        a->cp = (uint32_t)c;
      }
  }
  a->to = *i;
}

/* Writes a class's elements (not \S) as the inside of a PCRE2 class. */
static void class_items(Out *o, const char *s, const Atom *items, const Atom *ends, size_t count,
                        Fail *f) {
  size_t k;
  for (k = 0; k < count; k++) {
    const Atom *a = &items[k], *b = ends[k].kind >= 0 ? &ends[k] : NULL;
    if (a->kind == A_NOTSPACE) continue;
    if (a->kind == A_SPACE) {
      putspace(o, a->from);
    } else if (a->kind == A_SET && a->text != NULL) {
      putstr(o, a->negated ? "[:^" : "[:", a->from);
      putstr(o, a->text, a->from);
      putstr(o, ":]", a->from);
    } else if (b == NULL) {
      if (a->kind != A_CHAR)
        copy(o, s, a->from, a->to);
      else if (!issurrogate(a->cp)) /* a lone surrogate: no UTF-8 character */
        putcp(o, a->cp, a->from);
    } else if (a->kind == A_CHAR && b->kind == A_CHAR) {
      uint32_t lo = a->cp, hi = b->cp;
      if (lo > hi) {
        f->msg = "range out of order in character class";
        f->at = b->from;
        return;
      }
      /* The surrogate block holds no UTF-8 character: keep what is around it. */
      if (issurrogate(lo)) lo = 0xE000;
      if (issurrogate(hi)) hi = 0xD7FF;
      if (lo <= hi) {
        putcp(o, lo, a->from);
        if (hi != lo) {
          put(o, "-", 1, b->from);
          putcp(o, hi, b->from);
        }
      }
    } else { /* an end only PCRE2 can read (\o{..}): its range, its checks */
      if (a->kind == A_CHAR)
        putcp(o, issurrogate(a->cp) ? 0xE000 : a->cp, a->from);
      else
        copy(o, s, a->from, a->to);
      put(o, "-", 1, b->from);
      if (b->kind == A_CHAR)
        putcp(o, issurrogate(b->cp) ? 0xD7FF : b->cp, b->from);
      else
        copy(o, s, b->from, b->to);
    }
  }
}

/* A class with \S whose other elements are characters, ranges, \s, \d or \w,
 * as one PCRE2 class: [\S...] is everything but the white space not in it,
 * [^\S...] is the white space not in it. ECMAScript's white space is a few
 * code points, and one class stays one class when repeated ([\S]{1,2048}),
 * where the alternation of translate_class would be copied 2048 times.
 * Returns 0, having written nothing, for a class it cannot write so. */
static int notspace_class(Out *o, const char *s, const Atom *items, const Atom *ends, size_t count,
                          int negated, size_t at, Fail *f) {
  uint32_t space[32];
  size_t nspace = 0, k, m, kept = 0;
  for (k = 0; k < sizeof js_space / sizeof js_space[0]; k++) {
    uint32_t c;
    for (c = js_space[k][0]; c <= js_space[k][1]; c++) space[nspace++] = c;
  }
  for (k = 0; k < count; k++) { /* first: can it be done */
    const Atom *a = &items[k];
    if (a->kind == A_SET && a->text == NULL && (s[a->from + 1] == 'd' || s[a->from + 1] == 'w'))
      continue; /* no white space in \d, \w */
    if (a->kind == A_RAWCHAR || a->kind == A_SET || (ends[k].kind >= 0 && ends[k].kind != A_CHAR))
      return 0;
    if (ends[k].kind == A_CHAR && a->cp > ends[k].cp) {
      f->msg = "range out of order in character class";
      f->at = ends[k].from;
      return 1;
    }
  }
  for (k = 0; k < count; k++) { /* take out what the class names */
    const Atom *a = &items[k];
    uint32_t lo = a->cp, hi = ends[k].kind == A_CHAR ? ends[k].cp : a->cp;
    if (a->kind == A_SET || a->kind == A_NOTSPACE) continue;
    if (a->kind == A_SPACE) {
      lo = 0;
      hi = 0x10FFFF;
    }
    for (m = 0; m < nspace; m++)
      if (space[m] >= lo && space[m] <= hi) space[m] = UINT32_MAX;
  }
  for (m = 0; m < nspace; m++) kept += space[m] != UINT32_MAX;
  if (kept == 0) { /* [\S\s] is any character, [^\S\s] none */
    putstr(o, negated ? "(?!)" : "[^]", at);
    return 1;
  }
  putstr(o, negated ? "[" : "[^", at);
  for (m = 0; m < nspace; m++)
    if (space[m] != UINT32_MAX) putcp(o, space[m], at);
  putstr(o, "]", at);
  return 1;
}

/* The class at s[*i] == '['; *i ends after its ]. An unterminated class is
 * copied as it is, for PCRE2 to report. */
static void translate_class(Out *o, const char *s, size_t n, size_t *i, Fail *f) {
  size_t start = *i, j = *i + 1, count = 0, mark;
  int negated = 0, notspace = 0;
  /* each element and its range end, if any: at most one per byte left */
  Atom *items = (Atom *)malloc((n - start) * sizeof(Atom));
  Atom *ends = (Atom *)malloc((n - start) * sizeof(Atom));
  if (items == NULL || ends == NULL) {
    o->nomem = 1;
    goto done;
  }
  if (j < n && s[j] == '^') {
    negated = 1;
    j++;
  }
  while (j < n && s[j] != ']') {
    Atom a, b = {-1, 0, 0, 0, NULL, 0};
    class_atom(s, n, &j, &a, f);
    if (f->msg != NULL) goto done;
    if ((a.kind == A_CHAR || a.kind == A_RAWCHAR) && j + 1 < n && s[j] == '-' && s[j + 1] != ']') {
      size_t after = j + 1;
      class_atom(s, n, &after, &b, f);
      if (f->msg != NULL) goto done;
      if (b.kind == A_CHAR || b.kind == A_RAWCHAR) {
        j = after;
      } else { /* Annex B: [a-\d] is a, "-", \d; the - is read next */
        b.kind = -1;
      }
    }
    if (a.kind == A_NOTSPACE) notspace = 1;
    items[count] = a;
    ends[count++] = b;
  }
  if (j >= n) { /* no ]: PCRE2's error, at PCRE2's offset */
    copy(o, s, start, n);
    *i = n;
    goto done;
  }
  *i = j + 1;
  if (notspace && notspace_class(o, s, items, ends, count, negated, start, f)) goto done;
  /* [...\S...] is (?:[...]|[^space]); [^...\S...] is what is white space and
   * not in [...]: (?:(?![...])[space]). */
  if (notspace)
    putstr(o, negated ? "(?:(?![" : "(?:[", start);
  else
    putstr(o, negated ? "[^" : "[", start);
  mark = o->len;
  class_items(o, s, items, ends, count, f);
  if (!notspace && !negated && o->len == mark && !o->nomem) {
    /* Nothing in it ([], or only lone surrogates): no character matches.
     * (?!) says so; PCRE2 10.42 gets []? and []* wrong (they never match). */
    o->len = mark - 1;
    putstr(o, "(?!)", start);
  } else {
    putstr(o, "]", j);
  }
  if (notspace) {
    putstr(o, negated ? ")[" : "|[^", j);
    putspace(o, j);
    putstr(o, "])", j);
  }
done:
  free(items);
  free(ends);
}

/* Reads the options of (?flags) or (?flags: at s[i] == '('; returns the end
 * of the flags (at ) or :) or 0 if this is another kind of group. *dotall is
 * updated as PCRE2 will read the flags; f is set for (?x). */
static size_t inline_flags(const char *s, size_t n, size_t i, int *dotall, Fail *f) {
  size_t j = i + 2;
  int on = 1, s_flag = *dotall;
  for (; j < n && s[j] != '\0' && strchr("imnsxJU-^", s[j]) != NULL; j++) {
    if (s[j] == '-')
      on = 0;
    else if (s[j] == '^')
      s_flag = 0;
    else if (s[j] == 's')
      s_flag = on;
    else if (s[j] == 'x' && on) {
      f->msg = "(?x) (extended mode) is not supported";
      f->at = i;
      return 0;
    }
  }
  if (j == i + 2 || j >= n || (s[j] != ')' && s[j] != ':')) return 0;
  *dotall = s_flag;
  return j;
}

/* Rewrites the ECMAScript pattern s[0, n) into o (see the header comment).
 * f is set for a pattern refused here. */
static void translate(Out *o, const char *s, size_t n, Fail *f) {
  unsigned char *stack = (unsigned char *)malloc(n + 1); /* dotall per open group */
  size_t i = 0, depth = 0, end;
  int dotall = 0;
  uint32_t cp;
  if (stack == NULL) {
    o->nomem = 1;
    return;
  }
  while (i < n && f->msg == NULL && !o->nomem) {
    char c = s[i];
    if (c == '[') {
      translate_class(o, s, n, &i, f);
    } else if (c == '.') {
      if (dotall) {
        putstr(o, "[^]", i); /* any character, whatever PCRE2 thinks of (?s) */
      } else {
        putstr(o, "[^", i);
        putcp(o, 0x0A, i);
        putcp(o, 0x0D, i);
        putcp(o, 0x2028, i);
        putcp(o, 0x2029, i);
        putstr(o, "]", i);
      }
      i++;
    } else if (c == '(') {
      if (i + 2 < n && s[i + 1] == '?' && s[i + 2] == '#') { /* comment: as it is */
        for (end = i; end < n && s[end] != ')'; end++) {
        }
        copy(o, s, i, end < n ? end + 1 : n);
        i = end < n ? end + 1 : n;
        continue;
      }
      if (i + 1 < n && s[i + 1] == '?') {
        int newdotall = dotall;
        end = inline_flags(s, n, i, &newdotall, f);
        if (f->msg != NULL) break;
        if (end != 0 && s[end] == ')') { /* (?s): the rest of this group */
          dotall = newdotall;
          copy(o, s, i, end + 1);
          i = end + 1;
          continue;
        }
        if (end != 0) { /* (?s: ... ) */
          stack[depth++] = (unsigned char)dotall;
          dotall = newdotall;
          copy(o, s, i, end + 1);
          i = end + 1;
          continue;
        }
      }
      stack[depth++] = (unsigned char)dotall;
      copy(o, s, i, i + 1);
      i++;
    } else if (c == ')') {
      if (depth > 0) dotall = stack[--depth];
      copy(o, s, i, i + 1);
      i++;
    } else if (c == '\\' && i + 1 < n) {
      char e = s[i + 1];
      if (e == 'u') {
        if (escape_u(s, n, i, &cp, &end, f)) {
          if (issurrogate(cp))
            putstr(o, "(?!)", i); /* a lone surrogate: no UTF-8 character */
          else
            putcp(o, cp, i);
          i = end;
        } else {
          putstr(o, "u", i);
          i += 2;
        }
      } else if (e == 's' || e == 'S') {
        putstr(o, e == 's' ? "[" : "[^", i);
        putspace(o, i);
        putstr(o, "]", i);
        i += 2;
      } else if (e == 'v') {
        putcp(o, 0x0B, i);
        i += 2;
      } else if (e == 'p' || e == 'P') {
        const char *name = javaposix(s, n, i, &end);
        if (name != NULL) {
          putstr(o, e == 'P' ? "[[:^" : "[[:", i);
          putstr(o, name, i);
          putstr(o, ":]]", i);
        } else {
          end = braced(s, n, i + 2);
          copy(o, s, i, end);
        }
        i = end;
      } else if (e == 'Q') {
        end = quoted(s, n, i);
        copy(o, s, i, end);
        i = end;
      } else if (e == 'c' && i + 2 < n) { /* \c[ is a control character, no class */
        copy(o, s, i, i + 3);
        i += 3;
      } else { /* \. \( \[ \d \b \1 \k ...: PCRE2 reads them as ECMAScript does */
        copy(o, s, i, i + 2);
        i += 2;
      }
    } else {
      copy(o, s, i, i + 1);
      i++;
    }
  }
  free(stack);
}

/* ---- Lua API ------------------------------------------------------------- */

static void freecode(Regex *re) {
  pcre2_match_context_free(re->mc); /* each accepts NULL */
  pcre2_match_data_free(re->md);
  pcre2_code_free(re->code);
  re->mc = NULL;
  re->md = NULL;
  re->code = NULL;
}

static Regex *checkregex(lua_State *L) {
  Regex *re = (Regex *)luaL_checkudata(L, 1, REGEX);
  if (re->code == NULL) luaL_error(L, "regex is closed");
  return re;
}

/* re:__gc() / re:__close() -- idempotent */
static int regex_gc(lua_State *L) {
  freecode((Regex *)luaL_checkudata(L, 1, REGEX));
  return 0;
}

/* re:__tostring() -> "lakehost.regex /pattern/" or "lakehost.regex (closed)" */
static int regex_tostring(lua_State *L) {
  Regex *re = (Regex *)luaL_checkudata(L, 1, REGEX);
  if (re->code == NULL) {
    lua_pushliteral(L, REGEX " (closed)");
  } else {
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, REGEX " /%s/", lua_tostring(L, -1));
  }
  return 1;
}

/* re:pattern() -> the pattern as given to compile */
static int regex_pattern(lua_State *L) {
  checkregex(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* Pushes nil, "regex: <PCRE2's message for code>[ at offset N]". */
static int pusherror(lua_State *L, int code, int withoffset, size_t offset) {
  PCRE2_UCHAR msg[256];
  if (pcre2_get_error_message(code, msg, sizeof msg) == PCRE2_ERROR_BADDATA)
    snprintf((char *)msg, sizeof msg, "PCRE2 error %d", code);
  luaL_pushfail(L);
  if (withoffset)
    lua_pushfstring(L, "regex: %s at offset %I", (const char *)msg, (lua_Integer)offset);
  else
    lua_pushfstring(L, "regex: %s", (const char *)msg);
  return 2;
}

/* regex.compile(pattern) -> re | nil, "regex: <message> at offset N" */
static int regex_compile(lua_State *L) {
  size_t n, erroffset = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  Regex *re = (Regex *)lua_newuserdatauv(L, sizeof *re, 1);
  Out o = {NULL, NULL, 0, 0, 0};
  Fail f = {NULL, 0};
  pcre2_compile_context *cc;
  int errcode = 0;
  re->code = NULL; /* closed until compiled: __gc is always safe */
  re->md = NULL;
  re->mc = NULL;
  luaL_setmetatable(L, REGEX);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  /* No Lua call from here until o is freed. */
  translate(&o, s, n, &f);
  if (f.msg == NULL && !o.nomem) {
    cc = pcre2_compile_context_create(NULL);
    if (cc == NULL || pcre2_set_newline(cc, PCRE2_NEWLINE_LF) != 0 ||
        pcre2_set_compile_extra_options(cc, COMPILE_EXTRA) != 0) {
      o.nomem = 1;
    } else {
      re->code = pcre2_compile((PCRE2_SPTR)(o.buf != NULL ? o.buf : ""), o.len, COMPILE_OPTIONS,
                               &errcode, &erroffset, cc);
      /* PCRE2 counts in the rewritten pattern; say where that came from */
      if (re->code == NULL) erroffset = erroffset < o.len ? o.src[erroffset] : n;
    }
    pcre2_compile_context_free(cc);
  }
  free(o.buf);
  free(o.src);
  if (f.msg != NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "regex: %s at offset %I", f.msg, (lua_Integer)f.at);
    return 2;
  }
  if (o.nomem) {
    luaL_pushfail(L);
    lua_pushliteral(L, "regex: not enough memory");
    return 2;
  }
  if (re->code == NULL) return pusherror(L, errcode, 1, erroffset);
  re->md = pcre2_match_data_create(1, NULL); /* only whether it matched */
  re->mc = pcre2_match_context_create(NULL);
  if (re->md == NULL || re->mc == NULL || pcre2_set_match_limit(re->mc, MATCH_LIMIT) != 0 ||
      pcre2_set_depth_limit(re->mc, DEPTH_LIMIT) != 0 ||
      pcre2_set_heap_limit(re->mc, HEAP_LIMIT) != 0) {
    freecode(re);
    luaL_pushfail(L);
    lua_pushliteral(L, "regex: not enough memory");
    return 2;
  }
  return 1;
}

/* re:test(subject) -> true | false | nil, "regex: match limit exceeded" */
static int regex_test(lua_State *L) {
  Regex *re = checkregex(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, re->md, re->mc);
  if (rc >= 0) { /* 0: matched, the ovector (one pair) too small for the groups */
    lua_pushboolean(L, 1);
  } else if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushboolean(L, 0);
  } else if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) {
    lua_pushboolean(L, 0); /* not UTF-8: never matches (see the header) */
  } else {
    return pusherror(L, rc, 0, 0);
  }
  return 1;
}

static const luaL_Reg regex_funcs[] = {{"compile", regex_compile}, {NULL, NULL}};

static const luaL_Reg regex_meths[] = {
    {"test", regex_test}, {"pattern", regex_pattern}, {NULL, NULL}};

static const luaL_Reg regex_metas[] = {{"__index", NULL},
                                       {"__gc", regex_gc},
                                       {"__close", regex_gc},
                                       {"__tostring", regex_tostring},
                                       {NULL, NULL}};

int luaopen_host_regex(lua_State *L) {
  luaL_newmetatable(L, REGEX); /* [mt] */
  luaL_setfuncs(L, regex_metas, 0);
  luaL_newlib(L, regex_meths); /* [mt, meths] */
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, regex_funcs);
  return 1;
}
