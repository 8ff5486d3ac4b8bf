/*
 * host.json -- JSON decoder and deterministic encoder.
 *
 *   json.decode(text [, name]) -> value | nil, "name:line:col: message"
 *   json.encode(value [, opts]) -> string          (raises on unencodable values)
 *     opts = { pretty = boolean, indent = 0..16 (2),
 *              replace = function(t) -> value: a table whose metatable is not
 *                json's array or object one (a lake.token, say) is encoded as
 *                what replace returns for it (not asked again at that level),
 *              newline = true: the text ends with "\n",
 *              sort = boolean: accepted, ignored (keys are always sorted) }
 *     any other key of opts raises ("unknown option 'x'")
 *   json.array([t]) / json.object([t]) -> t         (marks t, or a new table)
 *   json.null, json.array_mt, json.object_mt
 *
 * Arrays and objects carry the registry metatables "lakehost.json.array" and
 * "lakehost.json.object" (host.yaml sets the same ones), so an empty [] and an
 * empty {} survive a decode/encode round trip; an empty table with neither
 * metatable is encoded as {}.
 *
 * Why not lua-cjson for decoding: Debian 12 ships lua-cjson 2.1.0, which has no
 * decode_array_with_array_mt (empty [] and {} come back as the same empty
 * table) and reads every number as a float (2^53 + 1 is lost). The decoder
 * here is a strict RFC 8259 reader instead: integers stay integers, strings
 * must be valid UTF-8, duplicate object keys keep the last value, nesting is
 * limited to JSON_MAX_DEPTH. json.null is lightuserdata NULL, the same value
 * as cjson.null, so both libraries' nulls compare equal.
 *
 * Encoder output: keys sorted by bytes, no spaces unless opts.pretty, integers
 * and integral floats below 2^53 as integers, other floats in the shortest
 * "%.{14..17}g" form that reads back to the same double.
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define JSON_ARRAY_MT "lakehost.json.array"   /* shared with host/yaml.c */
#define JSON_OBJECT_MT "lakehost.json.object" /* shared with host/yaml.c */
#define JSON_ENCBUF "lakehost.json.encbuf"

#define JSON_MAX_DEPTH 1000
#define JSON_MAX_INDENT 16

/* A key of the object being encoded. The string is owned by the table; slot
 * is the stack slot holding it (0: not on the stack, push it again). */
typedef struct {
  const char *s;
  size_t len;
  int slot;
} KeyRef;

/* One step of the path to the value being encoded ($.a.b[2]). */
typedef struct {
  const char *key; /* NULL: index step */
  size_t klen;
  lua_Integer index;
} PathStep;

/* Output bytes, the key scratch area and the path of one json.encode call;
 * a userdata, so a raised error cannot leak them. path and open grow with
 * the nesting actually met (most documents are a few levels deep). */
typedef struct {
  char *data;
  size_t len, cap;
  KeyRef *keys;
  size_t nkeys, capkeys;
  PathStep *path;
  const void **open;
  size_t capdepth; /* entries of path and open */
} EncBuf;

typedef struct {
  lua_State *L;
  EncBuf *buf;
  int pretty, indent;
  int array_mt_idx, object_mt_idx;
  int replace_idx; /* opts.replace, 0: none */
  int depth;
  int plen; /* buf->path[1..plen] leads to the value being encoded */
} Encoder;

typedef struct {
  lua_State *L;
  const char *start, *p, *end;
  int depth;
  int array_mt_idx, object_mt_idx;
  const char *err_at;
  char err[160];
} Decoder;

/* ---- shared helpers ----------------------------------------------------- */

/* Length (2..4) of the valid UTF-8 sequence at p, 0 if invalid. p[0] >= 0x80. */
static size_t utf8_len(const unsigned char *p, size_t avail) {
  unsigned c = p[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t n, i;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if (avail < n) return 0;
  if (c == 0xE0)
    lo = 0xA0; /* overlong */
  else if (c == 0xED)
    hi = 0x9F; /* surrogates */
  else if (c == 0xF0)
    lo = 0x90; /* overlong */
  else if (c == 0xF4)
    hi = 0x8F; /* > U+10FFFF */
  if (p[1] < lo || p[1] > hi) return 0;
  for (i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

/* ---- encoder: buffer ---------------------------------------------------- */

static void encbuf_release(EncBuf *b) {
  free(b->data);
  free(b->keys);
  free(b->path);
  free((void *)b->open);
  b->data = NULL;
  b->keys = NULL;
  b->path = NULL;
  b->open = NULL;
  b->len = b->cap = b->nkeys = b->capkeys = b->capdepth = 0;
}

/* Makes buf->path[depth] and buf->open[depth] valid; raises on out of memory. */
static void reserve_depth(Encoder *e, int depth) {
  EncBuf *b = e->buf;
  size_t cap;
  PathStep *path;
  const void **open;
  if ((size_t)depth < b->capdepth) return;
  cap = b->capdepth ? b->capdepth * 2 : 16;
  while (cap <= (size_t)depth) cap *= 2;
  path = (PathStep *)realloc(b->path, cap * sizeof *path);
  if (path == NULL) luaL_error(e->L, "json: out of memory");
  b->path = path;
  open = (const void **)realloc((void *)b->open, cap * sizeof *open);
  if (open == NULL) luaL_error(e->L, "json: out of memory");
  b->open = open;
  b->capdepth = cap;
}

/* reserve's slow path: grows the buffer to hold n more bytes. */
static char *grow(Encoder *e, size_t n) {
  EncBuf *b = e->buf;
  size_t cap = b->cap ? b->cap : 1024;
  char *d;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) luaL_error(e->L, "json: out of memory");
    cap *= 2;
  }
  d = (char *)realloc(b->data, cap);
  if (d == NULL) luaL_error(e->L, "json: out of memory");
  b->data = d;
  b->cap = cap;
  return b->data + b->len;
}

/* Makes room for n more bytes; raises on out of memory (the userdata frees). */
static inline char *reserve(Encoder *e, size_t n) {
  EncBuf *b = e->buf;
  return b->cap - b->len >= n ? b->data + b->len : grow(e, n);
}

static void put(Encoder *e, const char *s, size_t n) {
  memcpy(reserve(e, n), s, n);
  e->buf->len += n;
}

static void putc1(Encoder *e, char c) {
  *reserve(e, 1) = c;
  e->buf->len++;
}

static void push_key(Encoder *e, const char *s, size_t len, int slot) {
  EncBuf *b = e->buf;
  if (b->nkeys == b->capkeys) {
    size_t cap = b->capkeys ? b->capkeys * 2 : 64;
    KeyRef *k = (KeyRef *)realloc(b->keys, cap * sizeof *k);
    if (k == NULL) luaL_error(e->L, "json: out of memory");
    b->keys = k;
    b->capkeys = cap;
  }
  b->keys[b->nkeys].s = s;
  b->keys[b->nkeys].len = len;
  b->keys[b->nkeys].slot = slot;
  b->nkeys++;
}

static int keyref_cmp(const void *a, const void *b) {
  const KeyRef *x = (const KeyRef *)a, *y = (const KeyRef *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->s, y->s, n);
  if (r != 0) return r;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Sorts an object's keys by bytes. Most objects of a template have a few
 * keys: insertion sort, without a call per comparison; qsort past that. */
static void sort_keys(KeyRef *k, size_t n) {
  size_t i, j;
  if (n > 16) {
    qsort(k, n, sizeof *k, keyref_cmp);
    return;
  }
  for (i = 1; i < n; i++) {
    KeyRef x = k[i];
    for (j = i; j > 0 && keyref_cmp(&k[j - 1], &x) > 0; j--) k[j] = k[j - 1];
    k[j] = x;
  }
}

/* ---- encoder: errors ---------------------------------------------------- */

static int is_ident(const char *s, size_t n) {
  size_t i;
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* Raises "json: <msg> (at $.path)". */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
enc_error(Encoder *e, const char *fmt, ...) {
  lua_State *L = e->L;
  luaL_Buffer b;
  char msg[200];
  int i;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  luaL_checkstack(L, 4, NULL);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "json: ");
  luaL_addstring(&b, msg);
  luaL_addstring(&b, " (at $");
  for (i = 1; i <= e->plen; i++) {
    const PathStep *s = &e->buf->path[i];
    if (s->key == NULL) {
      char num[32];
      snprintf(num, sizeof num, "[%lld]", (long long)s->index);
      luaL_addstring(&b, num);
    } else if (is_ident(s->key, s->klen)) {
      luaL_addchar(&b, '.');
      luaL_addlstring(&b, s->key, s->klen);
    } else {
      size_t k;
      luaL_addstring(&b, "[\"");
      for (k = 0; k < s->klen && k < 80; k++) {
        unsigned char c = (unsigned char)s->key[k];
        if (c == '"' || c == '\\') {
          luaL_addchar(&b, '\\');
          luaL_addchar(&b, (char)c);
        } else if (c < 0x20 || c == 0x7F) {
          char esc[8];
          snprintf(esc, sizeof esc, "\\u%04x", c);
          luaL_addstring(&b, esc);
        } else {
          luaL_addchar(&b, (char)c);
        }
      }
      if (s->klen > 80) luaL_addstring(&b, "...");
      luaL_addstring(&b, "\"]");
    }
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  lua_error(L);
}

/* ---- encoder: values ---------------------------------------------------- */

static void encode_value(Encoder *e, int idx);

static void put_newline(Encoder *e, int level) {
  size_t n = (size_t)e->indent * (size_t)level;
  char *p = reserve(e, n + 1);
  p[0] = '\n';
  memset(p + 1, ' ', n);
  e->buf->len += n + 1;
}

static void put_integer(Encoder *e, lua_Integer v) {
  char tmp[24];
  char *p = tmp + sizeof tmp;
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + (int)(m % 10));
    m /= 10;
  } while (m != 0);
  if (v < 0) *--p = '-';
  put(e, p, (size_t)(tmp + sizeof tmp - p));
}

static void put_float(Encoder *e, double x) {
  char tmp[40];
  int prec, n = 0;
  if (isnan(x) || isinf(x)) enc_error(e, "cannot encode %s", isnan(x) ? "NaN" : "infinity");
  if (x == floor(x) && fabs(x) < 9007199254740992.0) { /* 2^53 */
    put_integer(e, (lua_Integer)x);
    return;
  }
  for (prec = 14; prec <= 17; prec++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", prec, x);
    if (strtod(tmp, NULL) == x) break;
  }
  put(e, tmp, (size_t)n);
}

static const char hexdigits[] = "0123456789abcdef";

/* Bytes a JSON string cannot hold as they are: 1 for control characters,
 * '"' and '\\' (escaped), 2 for bytes of 0x80 and up (checked as UTF-8). */
static const unsigned char special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* 1 when none of the 8 bytes of w is special (a control character, '"',
 * '\\' or a byte of a multibyte character). A byte below 0x20, or equal to
 * '"' or '\\', sets the top bit of its lane in one of the three terms (the
 * borrow of a subtraction can also set a higher lane's, but only after a
 * lane that really matched); a byte from 0x80 up has its own top bit. */
static int plain8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
  uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
  uint64_t hit =
      ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | w;
  return (hit & tops) == 0;
}

/* Writes s as a JSON string; what names it in the error ("string", "key"). */
static void put_string(Encoder *e, const char *s, size_t n, const char *what) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  putc1(e, '"');
  while (p < end) {
    const unsigned char *run = p;
    for (;;) { /* eight plain bytes at a time while they last */
      uint64_t w;
      if (end - p < 8) break;
      memcpy(&w, p, 8);
      if (!plain8(w)) break;
      p += 8;
    }
    while (p < end) { /* longest run copied as is */
      unsigned k = special[*p];
      if (k == 0) {
        p++;
      } else if (k == 1) {
        break;
      } else {
        size_t u = utf8_len(p, (size_t)(end - p));
        if (u == 0) enc_error(e, "invalid UTF-8 in %s", what);
        p += u;
      }
    }
    if (p > run) put(e, (const char *)run, (size_t)(p - run));
    if (p < end) {
      unsigned c = *p++;
      char esc[6] = {'\\', 0, 0, 0, 0, 0};
      switch (c) {
        case '"':
          esc[1] = '"';
          break;
        case '\\':
          esc[1] = '\\';
          break;
        case '\b':
          esc[1] = 'b';
          break;
        case '\f':
          esc[1] = 'f';
          break;
        case '\n':
          esc[1] = 'n';
          break;
        case '\r':
          esc[1] = 'r';
          break;
        case '\t':
          esc[1] = 't';
          break;
        default:
          esc[1] = 'u';
          esc[2] = '0';
          esc[3] = '0';
          esc[4] = hexdigits[c >> 4];
          esc[5] = hexdigits[c & 15];
          put(e, esc, 6);
          continue;
      }
      put(e, esc, 2);
    }
  }
  putc1(e, '"');
}

/* Kinds of table found by classify(). */
enum { KIND_ARRAY, KIND_OBJECT };

/* Objects up to this many keys keep their keys on the Lua stack while they
 * are encoded: fetching a value by a key already on the stack avoids
 * re-hashing the key string (about twice faster for typical templates). */
#define JSON_STACK_KEYS 256

/*
 * Decides how the table at idx is encoded. For objects the string keys are
 * left in buf->keys[base..] (and the first JSON_STACK_KEYS on the stack);
 * for arrays *n is the length.
 */
static int classify(Encoder *e, int idx, size_t base, lua_Integer *n) {
  lua_State *L = e->L;
  int mt = 0; /* 1 array_mt, 2 object_mt */
  lua_Integer count = 0, nint = 0, nstr = 0, maxi = 0;
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, e->array_mt_idx))
      mt = 1;
    else if (lua_rawequal(L, -1, e->object_mt_idx))
      mt = 2;
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1); /* [key] */
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      nstr++;
      if (mt == 1) continue;
      if (nstr <= JSON_STACK_KEYS) { /* keep this key, iterate with a copy */
        push_key(e, s, len, lua_gettop(L));
        luaL_checkstack(L, 3, "json: too many keys");
        lua_pushvalue(L, -1);
      } else {
        push_key(e, s, len, 0);
      }
    } else if (lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      if (k >= 1) nint++;
      if (k > maxi) maxi = k;
    }
  }
  if (mt == 2) {
    if (nstr != count) enc_error(e, "object keys must be strings");
    return KIND_OBJECT;
  }
  if (mt == 1 || (count > 0 && nint == count)) {
    if (nint != count || maxi != count)
      enc_error(e, "cannot encode table with mixed or sparse keys");
    *n = count;
    e->buf->nkeys = base;
    return KIND_ARRAY;
  }
  if (nstr != count) enc_error(e, "cannot encode table with mixed or sparse keys");
  return KIND_OBJECT;
}

static void encode_table(Encoder *e, int idx) {
  lua_State *L = e->L;
  const void *self = lua_topointer(L, idx);
  size_t base = e->buf->nkeys, i, nkeys;
  lua_Integer n = 0, k;
  int d, top = lua_gettop(L);
  for (d = 1; d <= e->depth; d++)
    if (e->buf->open[d] == self) enc_error(e, "reference cycle");
  if (e->depth >= JSON_MAX_DEPTH) enc_error(e, "nesting too deep");
  reserve_depth(e, e->depth + 1);
  luaL_checkstack(L, 4, "json: nesting too deep");
  e->depth++;
  e->buf->open[e->depth] = self;
  if (classify(e, idx, base, &n) == KIND_ARRAY) {
    if (n == 0) {
      put(e, "[]", 2);
    } else {
      putc1(e, '[');
      for (k = 1; k <= n; k++) {
        if (k > 1) putc1(e, ',');
        if (e->pretty) put_newline(e, e->depth);
        e->buf->path[e->depth].key = NULL;
        e->buf->path[e->depth].index = k;
        e->plen = e->depth;
        lua_rawgeti(L, idx, k);
        encode_value(e, lua_gettop(L));
        lua_pop(L, 1);
      }
      if (e->pretty) put_newline(e, e->depth - 1);
      putc1(e, ']');
    }
  } else {
    nkeys = e->buf->nkeys - base;
    if (nkeys == 0) {
      put(e, "{}", 2);
    } else {
      sort_keys(e->buf->keys + base, nkeys);
      putc1(e, '{');
      for (i = 0; i < nkeys; i++) {
        KeyRef key = e->buf->keys[base + i]; /* by value: nested objects may move the array */
        if (i > 0) putc1(e, ',');
        if (e->pretty) put_newline(e, e->depth);
        e->buf->path[e->depth].key = key.s;
        e->buf->path[e->depth].klen = key.len;
        e->plen = e->depth - 1; /* a bad key is reported at its object */
        put_string(e, key.s, key.len, "key");
        e->plen = e->depth;
        if (e->pretty)
          put(e, ": ", 2);
        else
          putc1(e, ':');
        if (key.slot)
          lua_pushvalue(L, key.slot);
        else
          lua_pushlstring(L, key.s, key.len);
        lua_rawget(L, idx);
        encode_value(e, lua_gettop(L));
        lua_pop(L, 1);
      }
      if (e->pretty) put_newline(e, e->depth - 1);
      putc1(e, '}');
    }
    e->buf->nkeys = base;
    lua_settop(L, top);
  }
  e->depth--;
}

static void encode_value(Encoder *e, int idx) {
  lua_State *L = e->L;
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      put_string(e, s, len, "string");
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        put_integer(e, lua_tointeger(L, idx));
      else
        put_float(e, (double)lua_tonumber(L, idx));
      break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx))
        put(e, "true", 4);
      else
        put(e, "false", 5);
      break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) != NULL) enc_error(e, "cannot encode lightuserdata");
      put(e, "null", 4);
      break;
    case LUA_TTABLE:
      if (e->replace_idx != 0 && lua_getmetatable(L, idx)) {
        int foreign =
            !lua_rawequal(L, -1, e->array_mt_idx) && !lua_rawequal(L, -1, e->object_mt_idx);
        lua_pop(L, 1);
        if (foreign) { /* encoded as what opts.replace makes of it */
          int replace = e->replace_idx;
          luaL_checkstack(L, 2, "json: nesting too deep");
          lua_pushvalue(L, replace);
          lua_pushvalue(L, idx);
          lua_call(L, 1, 1);
          if (lua_isnil(L, -1)) enc_error(e, "opts.replace gave nil");
          e->replace_idx = 0; /* encoded as it is: not asked again at that level */
          encode_value(e, lua_gettop(L));
          e->replace_idx = replace;
          lua_pop(L, 1);
          break;
        }
      }
      encode_table(e, idx);
      break;
    default:
      enc_error(e, "cannot encode %s", luaL_typename(L, idx));
  }
}

/* ---- decoder ------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
dec_fail(Decoder *d, const char *at, const char *fmt, ...) {
  va_list ap;
  d->err_at = at;
  va_start(ap, fmt);
  vsnprintf(d->err, sizeof d->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* Describes the byte at p for messages: "'x'", "byte 0xFF", "end of input". */
static void describe(const Decoder *d, const char *p, char *out, size_t outsz) {
  unsigned char c;
  if (p >= d->end) {
    snprintf(out, outsz, "end of input");
    return;
  }
  c = (unsigned char)*p;
  if (c >= 0x20 && c < 0x7F)
    snprintf(out, outsz, "'%c'", c);
  else
    snprintf(out, outsz, "byte 0x%02X", c);
}

static int expected(Decoder *d, const char *what) {
  char found[24];
  describe(d, d->p, found, sizeof found);
  return dec_fail(d, d->p, "expected %s, found %s", what, found);
}

static void skip_ws(Decoder *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t')) d->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    int c = (unsigned char)p[i], h;
    if (c >= '0' && c <= '9')
      h = c - '0';
    else if (c >= 'a' && c <= 'f')
      h = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      h = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + (unsigned)h;
  }
  *out = v;
  return 0;
}

/* Reads the \u escape at p (p[0] == '\\', p[1] == 'u'), pair included. */
static int read_u_escape(Decoder *d, const char *p, unsigned *cp, size_t *used) {
  unsigned hi, lo;
  if (d->end - p < 6 || hex4(p + 2, &hi)) return dec_fail(d, p, "invalid \\u escape");
  *used = 6;
  if (hi >= 0xDC00 && hi <= 0xDFFF) return dec_fail(d, p, "lone surrogate in \\u escape");
  if (hi >= 0xD800 && hi <= 0xDBFF) {
    if (d->end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) || lo < 0xDC00 ||
        lo > 0xDFFF)
      return dec_fail(d, p, "lone surrogate in \\u escape");
    hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    *used = 12;
  }
  *cp = hi;
  return 0;
}

static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Pushes the string starting at d->p (on the opening quote). Two passes:
 * the first validates and finds the end, the second (only when the string
 * has escapes) decodes into a buffer no longer than the source. */
static int read_string(Decoder *d) {
  const char *open = d->p, *p = d->p + 1, *q;
  int escapes = 0;
  luaL_Buffer b;
  char *out;
  size_t o = 0;
  for (;;) {
    unsigned char c;
    if (p >= d->end) return dec_fail(d, open, "unterminated string");
    c = (unsigned char)*p;
    if (c == '"') break;
    if (c < 0x20) return dec_fail(d, p, "control character in string");
    if (c == '\\') {
      escapes = 1;
      if (p + 1 >= d->end) return dec_fail(d, open, "unterminated string");
      switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;
          break;
        case 'u': {
          unsigned cp;
          size_t used;
          if (read_u_escape(d, p, &cp, &used)) return -1;
          p += used;
          break;
        }
        default:
          return dec_fail(d, p, "invalid escape");
      }
    } else if (c >= 0x80) {
      size_t k = utf8_len((const unsigned char *)p, (size_t)(d->end - p));
      if (k == 0) return dec_fail(d, p, "invalid UTF-8");
      p += k;
    } else {
      p++;
    }
  }
  d->p = p + 1;
  if (!escapes) {
    lua_pushlstring(d->L, open + 1, (size_t)(p - open - 1));
    return 0;
  }
  out = luaL_buffinitsize(d->L, &b, (size_t)(p - open - 1));
  for (q = open + 1; q < p;) {
    if (*q != '\\') {
      out[o++] = *q++;
      continue;
    }
    switch (q[1]) {
      case 'b':
        out[o++] = '\b';
        break;
      case 'f':
        out[o++] = '\f';
        break;
      case 'n':
        out[o++] = '\n';
        break;
      case 'r':
        out[o++] = '\r';
        break;
      case 't':
        out[o++] = '\t';
        break;
      case 'u': {
        unsigned cp;
        size_t used;
        read_u_escape(d, q, &cp, &used); /* validated above */
        o += put_utf8(out + o, cp);
        q += used;
        continue;
      }
      default:
        out[o++] = q[1];
        break; /* " \ / */
    }
    q += 2;
  }
  luaL_pushresultsize(&b, o);
  return 0;
}

/* Pushes the number at d->p (RFC 8259 grammar). */
static int read_number(Decoder *d) {
  const char *s = d->p, *p = d->p;
  int is_float = 0, neg = 0;
  if (p < d->end && *p == '-') neg = 1, p++;
  if (p >= d->end || *p < '0' || *p > '9') return dec_fail(d, s, "invalid number");
  if (*p == '0')
    p++;
  else
    while (p < d->end && *p >= '0' && *p <= '9') p++;
  if (p < d->end && *p == '.') {
    is_float = 1;
    p++;
    if (p >= d->end || *p < '0' || *p > '9') return dec_fail(d, s, "invalid number");
    while (p < d->end && *p >= '0' && *p <= '9') p++;
  }
  if (p < d->end && (*p == 'e' || *p == 'E')) {
    is_float = 1;
    p++;
    if (p < d->end && (*p == '+' || *p == '-')) p++;
    if (p >= d->end || *p < '0' || *p > '9') return dec_fail(d, s, "invalid number");
    while (p < d->end && *p >= '0' && *p <= '9') p++;
  }
  d->p = p;
  if (!is_float) {
    uint64_t mag = 0;
    const char *q;
    int overflow = 0;
    for (q = s + neg; q < p; q++) {
      unsigned dgt = (unsigned)(*q - '0');
      if (mag > (UINT64_MAX - dgt) / 10) {
        overflow = 1;
        break;
      }
      mag = mag * 10 + dgt;
    }
    if (!overflow && mag <= (uint64_t)INT64_MAX + (uint64_t)neg) {
      lua_pushinteger(
          d->L, neg ? (mag == (uint64_t)INT64_MAX + 1 ? (lua_Integer)INT64_MIN : -(lua_Integer)mag)
                    : (lua_Integer)mag);
      return 0;
    }
  }
  {
    /* strtod stops where the grammar above stopped: the next byte cannot
     * continue a decimal number, and the text is NUL-terminated (Lua string). */
    double v = strtod(s, NULL);
    if (isinf(v)) return dec_fail(d, s, "number out of range");
    lua_pushnumber(d->L, (lua_Number)v);
  }
  return 0;
}

static int read_value(Decoder *d);

/* Items a container keeps on the Lua stack before its table is made: most
 * objects and arrays are smaller, and get a table of their exact size instead
 * of one grown (and rehashed) at 1, 2, 4 and 8 entries. */
#define DEC_CHUNK 16

/* Moves the `pending` items above the container's table (made now, sized for
 * them, if it does not exist yet: its slot is base + 1) into it, in order. */
static void flush_items(Decoder *d, int is_object, int base, int *tbl, int pending,
                        lua_Integer *n) {
  lua_State *L = d->L;
  int i, first;
  if (*tbl == 0) {
    lua_createtable(L, is_object ? 0 : pending, is_object ? pending : 0);
    lua_pushvalue(L, is_object ? d->object_mt_idx : d->array_mt_idx);
    lua_setmetatable(L, -2);
    lua_insert(L, base + 1);
    *tbl = base + 1;
  }
  first = *tbl + 1;
  if (is_object) {
    for (i = 0; i < pending; i++) {
      lua_pushvalue(L, first + 2 * i);
      lua_pushvalue(L, first + 2 * i + 1);
      lua_rawset(L, *tbl);
    }
  } else {
    for (i = 0; i < pending; i++) {
      lua_pushvalue(L, first + i);
      lua_rawseti(L, *tbl, ++*n);
    }
  }
  lua_settop(L, *tbl);
}

static int read_container(Decoder *d, int is_object) {
  lua_State *L = d->L;
  const char *open = d->p;
  int base = lua_gettop(L), tbl = 0, pending = 0;
  lua_Integer n = 0;
  if (d->depth >= JSON_MAX_DEPTH) return dec_fail(d, open, "nesting too deep");
  d->depth++;
  d->p++;
  skip_ws(d);
  if (d->p < d->end && *d->p == (is_object ? '}' : ']')) {
    d->p++;
    d->depth--;
    flush_items(d, is_object, base, &tbl, 0, &n);
    return 0;
  }
  for (;;) {
    /* the pending items, a key and a value, and what read_string and
     * read_value use; a table of our own comes with the first flush */
    luaL_checkstack(L, 6, "json: nesting too deep");
    if (is_object) {
      if (d->p >= d->end || *d->p != '"') return expected(d, "string key");
      if (read_string(d)) return -1;
      skip_ws(d);
      if (d->p >= d->end || *d->p != ':') return expected(d, "':'");
      d->p++;
      skip_ws(d);
      if (read_value(d)) return -1;
    } else {
      if (read_value(d)) return -1;
    }
    if (++pending == DEC_CHUNK) {
      flush_items(d, is_object, base, &tbl, pending, &n);
      pending = 0;
    }
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      skip_ws(d);
      continue;
    }
    if (d->p < d->end && *d->p == (is_object ? '}' : ']')) break;
    return expected(d, is_object ? "',' or '}'" : "',' or ']'");
  }
  flush_items(d, is_object, base, &tbl, pending, &n);
  d->p++;
  d->depth--;
  return 0;
}

static int literal(Decoder *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0) return expected(d, "value");
  d->p += n;
  return 0;
}

/* Pushes the value at d->p (whitespace already skipped). */
static int read_value(Decoder *d) {
  if (d->p >= d->end) return expected(d, "value");
  switch (*d->p) {
    case '{':
      return read_container(d, 1);
    case '[':
      return read_container(d, 0);
    case '"':
      return read_string(d);
    case 't':
      if (literal(d, "true", 4)) return -1;
      lua_pushboolean(d->L, 1);
      return 0;
    case 'f':
      if (literal(d, "false", 5)) return -1;
      lua_pushboolean(d->L, 0);
      return 0;
    case 'n':
      if (literal(d, "null", 4)) return -1;
      lua_pushlightuserdata(d->L, NULL);
      return 0;
    default:
      if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) return read_number(d);
      return expected(d, "value");
  }
}

/* 1-based line and column (in characters) of p. */
static void position(const Decoder *d, const char *p, long *line, long *col) {
  const char *q, *ls = d->start;
  long l = 1, c = 1;
  for (q = d->start; q < p; q++)
    if (*q == '\n') l++, ls = q + 1;
  for (q = ls; q < p; q++)
    if (((unsigned char)*q & 0xC0) != 0x80) c++;
  *line = l;
  *col = c;
}

/* ---- __gc --------------------------------------------------------------- */

static int encbuf_gc(lua_State *L) {
  encbuf_release((EncBuf *)luaL_checkudata(L, 1, JSON_ENCBUF));
  return 0;
}

/* ---- module functions --------------------------------------------------- */

/* json.decode(text [, name]) -> value | nil, err */
static int json_decode(lua_State *L) {
  Decoder d;
  size_t len;
  const char *name;
  luaL_checktype(L, 1, LUA_TSTRING);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TSTRING);
  name = luaL_optstring(L, 2, "json");
  lua_settop(L, 2);
  memset(&d, 0, sizeof d);
  d.L = L;
  d.start = lua_tolstring(L, 1, &len);
  d.end = d.start + len;
  d.p = d.start;
  luaL_getmetatable(L, JSON_ARRAY_MT);  /* 3 */
  luaL_getmetatable(L, JSON_OBJECT_MT); /* 4 */
  d.array_mt_idx = 3;
  d.object_mt_idx = 4;
  if (len >= 3 && memcmp(d.p, "\xEF\xBB\xBF", 3) == 0) d.p += 3; /* UTF-8 BOM */
  skip_ws(&d);
  if (read_value(&d) == 0) {
    skip_ws(&d);
    if (d.p >= d.end) return 1;
    {
      char found[24];
      describe(&d, d.p, found, sizeof found);
      dec_fail(&d, d.p, "unexpected %s after the value", found);
    }
  }
  {
    long line, col;
    position(&d, d.err_at, &line, &col);
    luaL_checkstack(L, 3, NULL);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s:%d:%d: %s", name, (int)line, (int)col, d.err);
    return 2;
  }
}

/* json.encode(value [, opts]) -> string */
static int json_encode(lua_State *L) {
  Encoder enc, *e = &enc; /* owns nothing: buf (a userdata) does */
  EncBuf *buf;
  int newline = 0;
  luaL_checkany(L, 1);
  lua_settop(L, 2);
  lua_pushnil(L); /* 3: opts.replace; keeps the stack slots below as they were, and the
                   * function alive whatever it does to opts */
  e->L = L;
  e->buf = NULL;
  e->pretty = 0;
  e->indent = 2;
  e->depth = 0;
  e->plen = 0;
  e->replace_idx = 0;
  if (!lua_isnil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strcmp(k, "pretty") == 0) {
        luaL_argexpected(L, lua_isboolean(L, -1), 2, "boolean opts.pretty");
        e->pretty = lua_toboolean(L, -1);
      } else if (strcmp(k, "indent") == 0) {
        luaL_argcheck(L,
                      lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
                          lua_tointeger(L, -1) <= JSON_MAX_INDENT,
                      2, "opts.indent must be an integer from 0 to 16");
        e->indent = (int)lua_tointeger(L, -1);
      } else if (strcmp(k, "sort") == 0) {
        luaL_argexpected(L, lua_isboolean(L, -1), 2, "boolean opts.sort"); /* always sorted */
      } else if (strcmp(k, "replace") == 0) {
        luaL_argexpected(L, lua_isfunction(L, -1), 2, "function opts.replace");
        lua_copy(L, -1, 3);
        e->replace_idx = 3;
      } else if (strcmp(k, "newline") == 0) {
        luaL_argexpected(L, lua_isboolean(L, -1), 2, "boolean opts.newline");
        newline = lua_toboolean(L, -1);
      } else {
        lua_pop(L, 1); /* [key] */
        return luaL_argerror(
            L, 2, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
      }
      lua_pop(L, 1);
    }
  }
  buf = (EncBuf *)lua_newuserdatauv(L, sizeof *buf, 0); /* 4 */
  memset(buf, 0, sizeof *buf);
  luaL_setmetatable(L, JSON_ENCBUF);
  e->buf = buf;
  luaL_getmetatable(L, JSON_ARRAY_MT);  /* 5 */
  luaL_getmetatable(L, JSON_OBJECT_MT); /* 6 */
  e->array_mt_idx = 5;
  e->object_mt_idx = 6;
  if (lua_isnil(L, 1)) enc_error(e, "cannot encode nil");
  encode_value(e, 1);
  if (newline) putc1(e, '\n');
  lua_pushlstring(L, buf->data ? buf->data : "", buf->len);
  encbuf_release(buf);
  return 1;
}

/* Sets the metatable registered as mt_name on arg 1 (or a new table). */
static int mark_table(lua_State *L, const char *mt_name) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
  }
  luaL_setmetatable(L, mt_name);
  return 1;
}

/* json.array([t]) -> t */
static int json_array(lua_State *L) { return mark_table(L, JSON_ARRAY_MT); }

/* json.object([t]) -> t */
static int json_object(lua_State *L) { return mark_table(L, JSON_OBJECT_MT); }

/* ---- registration ------------------------------------------------------- */

static const luaL_Reg json_funcs[] = {{"decode", json_decode}, {"encode", json_encode},
                                      {"array", json_array},   {"object", json_object},
                                      {"null", NULL},          {"array_mt", NULL},
                                      {"object_mt", NULL},     {NULL, NULL}};

static const luaL_Reg encbuf_metas[] = {{"__gc", encbuf_gc}, {"__close", encbuf_gc}, {NULL, NULL}};

int luaopen_host_json(lua_State *L) {
  luaL_newmetatable(L, JSON_ENCBUF);
  luaL_setfuncs(L, encbuf_metas, 0);
  lua_pop(L, 1);

  luaL_newlib(L, json_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  luaL_newmetatable(L, JSON_ARRAY_MT); /* whichever of yaml/json opens first creates them */
  lua_setfield(L, -2, "array_mt");
  luaL_newmetatable(L, JSON_OBJECT_MT);
  lua_setfield(L, -2, "object_mt");
  return 1;
}
