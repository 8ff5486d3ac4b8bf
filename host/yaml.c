/*
 * host.yaml -- YAML loader on libyaml's event API (YAML 1.2 core schema).
 *
 *   yaml.load(text [, name]) -> value, marks | nil, "name:line:col: message"
 *   yaml.null                   the null sentinel (lightuserdata NULL == cjson.null)
 *
 * Mappings become tables with string keys (metatable "lakehost.json.object"),
 * sequences become arrays (metatable "lakehost.json.array"), so host.json
 * re-encodes [] and {} as they were written. marks is a weak-keyed table:
 *   marks[map] = {line=, col=, keys = {[key] = line}}
 *   marks[seq] = {line=, col=, items = {[i] = line}}
 * Lines and columns are 1-based; columns count characters. A container's own
 * position is where libyaml starts it: its anchor or tag, else its '[' / '{',
 * else (block style) its first key or '-'; a key or an item has its line
 * only (a table each would be most of what a document takes: marks cost
 * about 15 times the text's size, against 25 with a column too).
 *
 * Scalars: plain ones resolve by the YAML 1.2 core schema (null, booleans,
 * decimal/0x/0o integers with an optional sign, floats, .inf, .nan); an
 * integer beyond int64 becomes a float, as Lua reads such numerals. Quoted and
 * block scalars are strings. Tags !!str !!int !!float !!bool !!null !!map
 * !!seq and "!" are honoured, any other is refused. Keys are always the text
 * of a scalar. Duplicate keys, recursive aliases, more than one document and
 * nesting beyond YAML_MAX_DEPTH are refused.
 *
 * Memory: the parser and the current event live in a userdata created before
 * libyaml is touched, so a Lua error (out of memory while building tables)
 * leaves them to __gc; every normal path releases them before returning.
 * Our own refusals (duplicate key, depth, ...) never raise: they unwind the
 * builder with -1 and come back as nil, err.
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "host.h"

#define YAML_LOADER "lakehost.yaml.loader"
#define YAML_MARKS_MT "lakehost.yaml.marks"
#define JSON_ARRAY_MT "lakehost.json.array"   /* shared with host/json.c */
#define JSON_OBJECT_MT "lakehost.json.object" /* shared with host/json.c */

#define YAML_MAX_DEPTH 512
/* Keys copied by merge keys (<<) over the whole document: keeps a document of
 * many `<<: *big` lines from taking quadratic time. */
#define YAML_MAX_MERGED 10000000L
#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

typedef struct {
  yaml_parser_t parser;
  yaml_event_t event; /* the current event; valid while has_event */
  int has_parser;
  int has_event;
} YamlLoader;

/* State of one yaml.load call. The *_idx fields are absolute stack slots. */
typedef struct {
  lua_State *L;
  YamlLoader *ld;
  const char *text;
  size_t len;
  int anchors_idx;     /* anchor name -> value (or the in-progress sentinel) */
  int anchor_keys_idx; /* anchor name -> text of an anchored scalar (for keys) */
  int marks_idx;
  int array_mt_idx;
  int object_mt_idx;
  int depth;
  long merged;
  unsigned long err_line, err_col;
  char err[320];
} Builder;

/* Address used as the "anchor still being built" marker. */
static char anchor_in_progress;

/* ---- helpers ------------------------------------------------------------ */

static void loader_release(YamlLoader *ld) {
  if (ld->has_event) {
    ld->has_event = 0;
    yaml_event_delete(&ld->event);
  }
  if (ld->has_parser) {
    ld->has_parser = 0;
    yaml_parser_delete(&ld->parser);
  }
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail_at(Builder *b, const yaml_mark_t *m, const char *fmt, ...) {
  va_list ap;
  b->err_line = (unsigned long)m->line + 1;
  b->err_col = (unsigned long)m->column + 1;
  va_start(ap, fmt);
  vsnprintf(b->err, sizeof b->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* 1-based line and column (in characters) of byte offset off of the input. */
static void offset_position(const Builder *b, size_t off, unsigned long *line, unsigned long *col) {
  size_t i, start = 0;
  unsigned long l = 1, c = 1;
  if (off > b->len) off = b->len;
  for (i = 0; i < off; i++)
    if (b->text[i] == '\n') {
      l++;
      start = i + 1;
    }
  for (i = start; i < off; i++)
    if (((unsigned char)b->text[i] & 0xC0) != 0x80) c++;
  *line = l;
  *col = c;
}

/* Copies libyaml's error into b->err. */
static int parser_error(Builder *b) {
  const yaml_parser_t *p = &b->ld->parser;
  const char *problem = p->problem ? p->problem : "unknown error";
  switch (p->error) {
    case YAML_MEMORY_ERROR:
      b->err_line = b->err_col = 0;
      snprintf(b->err, sizeof b->err, "out of memory");
      return -1;
    case YAML_READER_ERROR:
      offset_position(b, p->problem_offset, &b->err_line, &b->err_col);
      if (p->problem_value != -1)
        snprintf(b->err, sizeof b->err, "%s (0x%X)", problem, (unsigned)p->problem_value);
      else
        snprintf(b->err, sizeof b->err, "%s", problem);
      return -1;
    default:
      if (p->context != NULL && (p->context_mark.line != p->problem_mark.line ||
                                 p->context_mark.column != p->problem_mark.column))
        return fail_at(b, &p->problem_mark, "%s (%s started at %lu:%lu)", problem, p->context,
                       (unsigned long)p->context_mark.line + 1,
                       (unsigned long)p->context_mark.column + 1);
      if (p->context != NULL) return fail_at(b, &p->problem_mark, "%s (%s)", problem, p->context);
      return fail_at(b, &p->problem_mark, "%s", problem);
  }
}

/* Replaces the current event by the next one. */
static int next_event(Builder *b) {
  YamlLoader *ld = b->ld;
  if (ld->has_event) {
    ld->has_event = 0;
    yaml_event_delete(&ld->event);
  }
  if (!yaml_parser_parse(&ld->parser, &ld->event)) return parser_error(b);
  ld->has_event = 1;
  return 0;
}

/* "!!str" for the YAML core tags, the tag itself otherwise (for messages). */
static void tag_display(const char *tag, char *out, size_t outsz) {
  size_t n = sizeof YAML_TAG_PREFIX - 1;
  if (strncmp(tag, YAML_TAG_PREFIX, n) == 0)
    snprintf(out, outsz, "!!%.60s", tag + n);
  else
    snprintf(out, outsz, "%.60s", tag);
}

/* Suffix of a core tag ("str" for tag:yaml.org,2002:str), NULL otherwise. */
static const char *core_tag(const char *tag) {
  size_t n = sizeof YAML_TAG_PREFIX - 1;
  return strncmp(tag, YAML_TAG_PREFIX, n) == 0 ? tag + n : NULL;
}

static int is_null_text(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")));
}

/* 1 true, 0 false, -1 not a boolean. */
static int bool_text(const char *s, size_t n) {
  if (n == 4 && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) return 1;
  if (n == 5 && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) return 0;
  return -1;
}

static int digit_value(int c, int base) {
  int v;
  if (c >= '0' && c <= '9')
    v = c - '0';
  else if (c >= 'a' && c <= 'f')
    v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F')
    v = c - 'A' + 10;
  else
    return -1;
  return v < base ? v : -1;
}

/*
 * Core-schema integer: [-+]?[0-9]+ | [-+]?0x[0-9a-fA-F]+ | [-+]?0o[0-7]+.
 * Returns 0 if s is not one, 1 with *iv set, 2 with *fv set when the value
 * does not fit an int64 (it is then a float, as Lua reads such numerals).
 */
static int parse_int(const char *s, size_t n, lua_Integer *iv, double *fv) {
  size_t i = 0;
  int neg = 0, base = 10, overflow = 0;
  uint64_t mag = 0;
  double dmag = 0.0;
  if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o')) {
    base = s[i + 1] == 'x' ? 16 : 8;
    i += 2;
  }
  if (i >= n) return 0;
  for (; i < n; i++) {
    int d = digit_value((unsigned char)s[i], base);
    if (d < 0) return 0;
    if (!overflow && mag > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = 1;
    if (!overflow) mag = mag * (uint64_t)base + (uint64_t)d;
    dmag = dmag * base + d;
  }
  if (!overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
    if (neg)
      *iv = mag == (uint64_t)INT64_MAX + 1 ? (lua_Integer)INT64_MIN : -(lua_Integer)mag;
    else
      *iv = (lua_Integer)mag;
    return 1;
  }
  /* decimal through strtod (correctly rounded); other bases are exact enough */
  *fv = base == 10 ? strtod(s, NULL) : (neg ? -dmag : dmag);
  return 2;
}

/*
 * Core-schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 * [-+]?\.(inf|Inf|INF), \.(nan|NaN|NAN). s is NUL-terminated at n.
 */
static int parse_float(const char *s, size_t n, double *fv) {
  size_t i = 0, digits = 0;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  if (n - i == 4 && s[i] == '.') {
    const char *w = s + i + 1;
    if (!strcmp(w, "inf") || !strcmp(w, "Inf") || !strcmp(w, "INF")) {
      *fv = neg ? -HUGE_VAL : HUGE_VAL;
      return 1;
    }
    if (i == 0 && (!strcmp(w, "nan") || !strcmp(w, "NaN") || !strcmp(w, "NAN"))) {
      *fv = NAN;
      return 1;
    }
  }
  while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
  }
  if (digits == 0) return 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp_digits = 0;
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, exp_digits++;
    if (exp_digits == 0) return 0;
  }
  if (i != n) return 0;
  *fv = strtod(s, NULL);
  return 1;
}

/* ---- building values ---------------------------------------------------- */

static int build_node(Builder *b);

/* Pushes the value of the current scalar event. */
static int push_scalar(Builder *b) {
  lua_State *L = b->L;
  const yaml_event_t *ev = &b->ld->event;
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  const char *core;
  lua_Integer iv;
  double fv;
  int r;
  char shown[80];

  if (tag == NULL) {
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
      lua_pushlstring(L, s, n);
    } else if (is_null_text(s, n)) {
      lua_pushlightuserdata(L, NULL);
    } else if ((r = bool_text(s, n)) >= 0) {
      lua_pushboolean(L, r);
    } else if ((r = parse_int(s, n, &iv, &fv)) != 0) {
      if (r == 1)
        lua_pushinteger(L, iv);
      else
        lua_pushnumber(L, (lua_Number)fv);
    } else if (parse_float(s, n, &fv)) {
      lua_pushnumber(L, (lua_Number)fv);
    } else {
      lua_pushlstring(L, s, n);
    }
    return 0;
  }
  core = core_tag(tag);
  if (strcmp(tag, "!") == 0 || (core != NULL && strcmp(core, "str") == 0)) {
    lua_pushlstring(L, s, n);
    return 0;
  }
  tag_display(tag, shown, sizeof shown);
  if (core != NULL && strcmp(core, "null") == 0) {
    if (is_null_text(s, n)) {
      lua_pushlightuserdata(L, NULL);
      return 0;
    }
  } else if (core != NULL && strcmp(core, "bool") == 0) {
    if ((r = bool_text(s, n)) >= 0) {
      lua_pushboolean(L, r);
      return 0;
    }
  } else if (core != NULL && strcmp(core, "int") == 0) {
    if ((r = parse_int(s, n, &iv, &fv)) != 0) {
      if (r == 1)
        lua_pushinteger(L, iv);
      else
        lua_pushnumber(L, (lua_Number)fv);
      return 0;
    }
  } else if (core != NULL && strcmp(core, "float") == 0) {
    if ((r = parse_int(s, n, &iv, &fv)) != 0) {
      lua_pushnumber(L, r == 1 ? (lua_Number)iv : (lua_Number)fv);
      return 0;
    }
    if (parse_float(s, n, &fv)) {
      lua_pushnumber(L, (lua_Number)fv);
      return 0;
    }
  } else {
    return fail_at(b, &ev->start_mark, "unsupported tag '%s'", shown);
  }
  return fail_at(b, &ev->start_mark, "invalid %s value '%.40s%s'", shown, s, n > 40 ? "..." : "");
}

/* Checks the tag of a collection start event against the expected core tag. */
static int check_collection_tag(Builder *b, const char *tag, const char *want) {
  const char *core;
  char shown[80];
  if (tag == NULL || strcmp(tag, "!") == 0) return 0;
  core = core_tag(tag);
  if (core != NULL && strcmp(core, want) == 0) return 0;
  tag_display(tag, shown, sizeof shown);
  return fail_at(b, &b->ld->event.start_mark, "unsupported tag '%s'", shown);
}

/* Pushes {line=, col=} for mark m. */
static void push_mark(lua_State *L, const yaml_mark_t *m) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)m->line + 1);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)m->column + 1);
  lua_setfield(L, -2, "col");
}

/* Pushes the anchor name of the current event, or nil. */
static void push_anchor(lua_State *L, const yaml_char_t *anchor) {
  if (anchor != NULL)
    lua_pushstring(L, (const char *)anchor);
  else
    lua_pushnil(L);
}

/* anchors[name at slot name_idx] = value at top (the value stays). */
static void set_anchor(Builder *b, int name_idx) {
  lua_State *L = b->L;
  if (lua_isnil(L, name_idx)) return;
  lua_pushvalue(L, name_idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, b->anchors_idx);
}

static void set_anchor_in_progress(Builder *b, int name_idx) {
  lua_State *L = b->L;
  if (lua_isnil(L, name_idx)) return;
  lua_pushvalue(L, name_idx);
  lua_pushlightuserdata(L, &anchor_in_progress);
  lua_rawset(L, b->anchors_idx);
}

/* 1 if the value at idx is a table carrying metatable slot mt_idx. */
static int has_mt(lua_State *L, int idx, int mt_idx) {
  int r;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  r = lua_rawequal(L, -1, mt_idx);
  lua_pop(L, 1);
  return r;
}

/* Pushes the value of alias `name` (the current event). */
static int push_alias(Builder *b) {
  lua_State *L = b->L;
  const yaml_event_t *ev = &b->ld->event;
  const char *name = (const char *)ev->data.alias.anchor;
  lua_getfield(L, b->anchors_idx, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return fail_at(b, &ev->start_mark, "unknown alias '%.80s'", name);
  }
  if (lua_touserdata(L, -1) == &anchor_in_progress) {
    lua_pop(L, 1);
    return fail_at(b, &ev->start_mark, "recursive alias '%.80s'", name);
  }
  return 0;
}

/* Builds the mapping whose MAPPING_START is the current event. */
static int build_mapping(Builder *b) {
  lua_State *L = b->L;
  yaml_mark_t start = b->ld->event.start_mark;
  int base = lua_gettop(L) + 1, tbl, keys, merges;
  unsigned long merge_line = 0;

  luaL_checkstack(L, 16, "yaml: nesting too deep");
  if (check_collection_tag(b, (const char *)b->ld->event.data.mapping_start.tag, "map")) return -1;
  push_anchor(L, b->ld->event.data.mapping_start.anchor); /* [anchor] */
  set_anchor_in_progress(b, base);
  lua_newtable(L); /* [anchor, tbl] */
  tbl = base + 1;
  lua_pushvalue(L, b->object_mt_idx);
  lua_setmetatable(L, tbl);
  push_mark(L, &start); /* [anchor, tbl, mark] */
  lua_newtable(L);      /* [anchor, tbl, mark, keys] */
  keys = base + 3;
  lua_pushvalue(L, keys);
  lua_setfield(L, base + 2, "keys");
  lua_pushvalue(L, tbl);
  lua_pushvalue(L, base + 2);
  lua_rawset(L, b->marks_idx);
  lua_pushnil(L); /* [anchor, tbl, mark, keys, merges|nil] */
  merges = base + 4;

  for (;;) {
    const yaml_event_t *ev;
    yaml_mark_t key_at, value_at;
    int is_merge = 0;
    if (next_event(b)) return -1;
    ev = &b->ld->event;
    if (ev->type == YAML_MAPPING_END_EVENT) break;
    key_at = ev->start_mark;
    if (ev->type == YAML_SCALAR_EVENT) {
      const char *tag = (const char *)ev->data.scalar.tag;
      const char *anchor = (const char *)ev->data.scalar.anchor;
      if (tag != NULL || anchor != NULL) { /* keys stay text; the tag must still be valid */
        if (push_scalar(b)) return -1;
        if (anchor != NULL) { /* an anchored key can be reused as a value or a key */
          lua_pushvalue(L, -1);
          lua_setfield(L, b->anchors_idx, anchor);
          lua_pushlstring(L, (const char *)ev->data.scalar.value, ev->data.scalar.length);
          lua_setfield(L, b->anchor_keys_idx, anchor);
        }
        lua_pop(L, 1);
      }
      is_merge = tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 ev->data.scalar.length == 2 && memcmp(ev->data.scalar.value, "<<", 2) == 0;
      lua_pushlstring(L, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    } else if (ev->type == YAML_ALIAS_EVENT) {
      const char *name = (const char *)ev->data.alias.anchor;
      if (lua_getfield(L, b->anchor_keys_idx, name) == LUA_TNIL) {
        lua_pop(L, 1);
        if (push_alias(b)) return -1;
        lua_pop(L, 1);
        return fail_at(b, &key_at, "mapping key must be a scalar");
      }
    } else {
      return fail_at(b, &key_at, "mapping key must be a scalar");
    }
    /* [.., key] */
    if (is_merge) {
      if (merge_line != 0)
        return fail_at(b, &key_at, "duplicate key '<<' (first at line %lu)", merge_line);
      merge_line = (unsigned long)key_at.line + 1;
    } else {
      lua_pushvalue(L, -1);
      if (lua_rawget(L, keys) != LUA_TNIL) { /* [.., key, first line] */
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        return fail_at(b, &key_at, "duplicate key '%.80s%s' (first at line %ld)", k,
                       kl > 80 ? "..." : "", (long)lua_tointeger(L, -1));
      }
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushinteger(L, (lua_Integer)key_at.line + 1);
      lua_rawset(L, keys); /* keys[key] = line; [.., key] */
    }
    if (next_event(b)) return -1;
    value_at = b->ld->event.start_mark;
    if (build_node(b)) return -1; /* [.., key, value] */
    if (!is_merge) {
      lua_rawset(L, tbl);
      continue;
    }
    /* <<: mapping, or <<: [mapping, ...] */
    if (!has_mt(L, -1, b->object_mt_idx)) {
      int ok = has_mt(L, -1, b->array_mt_idx);
      lua_Integer i, n = ok ? (lua_Integer)lua_rawlen(L, -1) : 0;
      for (i = 1; ok && i <= n; i++) {
        lua_rawgeti(L, -1, i);
        ok = has_mt(L, -1, b->object_mt_idx);
        lua_pop(L, 1);
      }
      if (!ok)
        return fail_at(b, &value_at, "merge value must be a mapping or a sequence of mappings");
    }
    if (lua_isnil(L, merges)) {
      lua_newtable(L);
      lua_replace(L, merges);
    }
    lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
    lua_pop(L, 1); /* the key */
  }

  if (!lua_isnil(L, merges)) {
    /* Explicit keys win over merged ones, and earlier merged mappings over
     * later ones: only keys still missing are copied. */
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, merges);
    for (i = 1; i <= n; i++) {
      lua_Integer j, m = 1;
      int list;
      lua_rawgeti(L, merges, i); /* [.., src|list] */
      list = has_mt(L, -1, b->array_mt_idx);
      if (list) m = (lua_Integer)lua_rawlen(L, -1);
      for (j = 1; j <= m; j++) {
        int src, src_keys;
        if (list)
          lua_rawgeti(L, -1, j);
        else
          lua_pushvalue(L, -1);
        src = lua_gettop(L); /* [.., x, src] */
        lua_pushvalue(L, src);
        if (lua_rawget(L, b->marks_idx) == LUA_TTABLE)
          lua_getfield(L, -1, "keys");
        else
          lua_pushnil(L);
        src_keys = src + 2; /* [.., x, src, smark, skeys] */
        lua_pushnil(L);
        while (lua_next(L, src)) { /* [.., k, v] */
          lua_pushvalue(L, -2);
          if (lua_rawget(L, tbl) != LUA_TNIL) {
            lua_pop(L, 2); /* [.., k] */
            continue;
          }
          lua_pop(L, 1);
          if (++b->merged > YAML_MAX_MERGED)
            return fail_at(b, &start, "merge keys expand too much");
          lua_pushvalue(L, -2);
          lua_insert(L, -2); /* [.., k, k, v] */
          lua_rawset(L, tbl);
          lua_pushvalue(L, -1); /* [.., k, k] */
          if (lua_type(L, src_keys) == LUA_TTABLE) {
            lua_pushvalue(L, -1);
            lua_rawget(L, src_keys);
          } else {
            lua_pushnil(L);
          }
          lua_rawset(L, keys); /* keys[k] = the source's mark of k; [.., k] */
        }
        lua_settop(L, src - 1);
      }
      lua_pop(L, 1);
    }
  }

  /* the current event is MAPPING_END */
  lua_settop(L, tbl);
  set_anchor(b, base);
  lua_replace(L, base); /* [tbl] */
  return 0;
}

/* Builds the sequence whose SEQUENCE_START is the current event. */
static int build_sequence(Builder *b) {
  lua_State *L = b->L;
  yaml_mark_t start = b->ld->event.start_mark;
  int base = lua_gettop(L) + 1, tbl, items;
  lua_Integer n = 0;

  luaL_checkstack(L, 10, "yaml: nesting too deep");
  if (check_collection_tag(b, (const char *)b->ld->event.data.sequence_start.tag, "seq")) return -1;
  push_anchor(L, b->ld->event.data.sequence_start.anchor); /* [anchor] */
  set_anchor_in_progress(b, base);
  lua_newtable(L); /* [anchor, tbl] */
  tbl = base + 1;
  lua_pushvalue(L, b->array_mt_idx);
  lua_setmetatable(L, tbl);
  push_mark(L, &start); /* [anchor, tbl, mark] */
  lua_newtable(L);      /* [anchor, tbl, mark, items] */
  items = base + 3;
  lua_pushvalue(L, items);
  lua_setfield(L, base + 2, "items");
  lua_pushvalue(L, tbl);
  lua_pushvalue(L, base + 2);
  lua_rawset(L, b->marks_idx);

  for (;;) {
    if (next_event(b)) return -1;
    if (b->ld->event.type == YAML_SEQUENCE_END_EVENT) break;
    n++;
    lua_pushinteger(L, (lua_Integer)b->ld->event.start_mark.line + 1);
    lua_rawseti(L, items, n); /* items[n] = line */
    if (build_node(b)) return -1;
    lua_rawseti(L, tbl, n);
  }
  lua_settop(L, tbl);
  set_anchor(b, base);
  lua_replace(L, base); /* [tbl] */
  return 0;
}

/* Pushes the node whose first event is the current event. */
static int build_node(Builder *b) {
  lua_State *L = b->L;
  const yaml_event_t *ev = &b->ld->event;
  int r;
  switch (ev->type) {
    case YAML_ALIAS_EVENT:
      return push_alias(b);
    case YAML_SCALAR_EVENT: {
      int name;
      luaL_checkstack(L, 4, "yaml: nesting too deep");
      push_anchor(L, ev->data.scalar.anchor);
      name = lua_gettop(L);
      if (push_scalar(b)) return -1;
      if (!lua_isnil(L, name)) {
        set_anchor(b, name);
        lua_pushvalue(L, name);
        lua_pushlstring(L, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        lua_rawset(L, b->anchor_keys_idx);
      }
      lua_replace(L, name);
      return 0;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (b->depth >= YAML_MAX_DEPTH) return fail_at(b, &ev->start_mark, "nesting too deep");
      b->depth++;
      r = ev->type == YAML_SEQUENCE_START_EVENT ? build_sequence(b) : build_mapping(b);
      b->depth--;
      return r;
    default:
      return fail_at(b, &ev->start_mark, "unexpected event %d", (int)ev->type);
  }
}

/* Pushes the value of the single document of the stream. */
static int build_stream(Builder *b) {
  lua_State *L = b->L;
  if (next_event(b)) return -1; /* STREAM_START */
  if (next_event(b)) return -1;
  if (b->ld->event.type == YAML_STREAM_END_EVENT) {
    lua_pushlightuserdata(L, NULL);
    return 0;
  }
  /* DOCUMENT_START */
  if (next_event(b) || build_node(b)) return -1;
  if (next_event(b)) return -1; /* DOCUMENT_END */
  if (next_event(b)) return -1;
  if (b->ld->event.type == YAML_DOCUMENT_START_EVENT)
    return fail_at(b, &b->ld->event.start_mark, "more than one document");
  return 0;
}

/* ---- __gc --------------------------------------------------------------- */

static int loader_gc(lua_State *L) {
  loader_release((YamlLoader *)luaL_checkudata(L, 1, YAML_LOADER));
  return 0;
}

/* ---- module functions --------------------------------------------------- */

/* yaml.load(text [, name]) -> value, marks | nil, err */
static int yaml_load(lua_State *L) {
  Builder b;
  YamlLoader *ld;
  const char *name;
  memset(&b, 0, sizeof b);
  luaL_checktype(L, 1, LUA_TSTRING);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TSTRING);
  b.text = lua_tolstring(L, 1, &b.len);
  name = luaL_optstring(L, 2, "yaml");
  lua_settop(L, 2);

  ld = (YamlLoader *)lua_newuserdatauv(L, sizeof *ld, 0); /* 3 */
  memset(ld, 0, sizeof *ld);
  luaL_setmetatable(L, YAML_LOADER);
  lua_newtable(L); /* 4: anchors */
  lua_newtable(L); /* 5: anchor texts */
  lua_newtable(L); /* 6: marks */
  luaL_setmetatable(L, YAML_MARKS_MT);
  luaL_getmetatable(L, JSON_ARRAY_MT);  /* 7 */
  luaL_getmetatable(L, JSON_OBJECT_MT); /* 8 */
  b.L = L;
  b.ld = ld;
  b.anchors_idx = 4;
  b.anchor_keys_idx = 5;
  b.marks_idx = 6;
  b.array_mt_idx = 7;
  b.object_mt_idx = 8;

  if (!yaml_parser_initialize(&ld->parser)) return luaL_error(L, "yaml: out of memory");
  ld->has_parser = 1;
  yaml_parser_set_input_string(&ld->parser, (const unsigned char *)b.text, b.len);

  if (build_stream(&b)) {
    loader_release(ld);
    luaL_checkstack(L, 3, NULL);
    luaL_pushfail(L);
    if (b.err_line == 0)
      lua_pushfstring(L, "%s: %s", name, b.err);
    else
      lua_pushfstring(L, "%s:%d:%d: %s", name, (int)b.err_line, (int)b.err_col, b.err);
    return 2;
  }
  loader_release(ld);
  lua_pushvalue(L, 6);
  return 2;
}

/* ---- registration ------------------------------------------------------- */

static const luaL_Reg yaml_funcs[] = {{"load", yaml_load}, {"null", NULL}, {NULL, NULL}};

static const luaL_Reg loader_metas[] = {{"__gc", loader_gc}, {"__close", loader_gc}, {NULL, NULL}};

int luaopen_host_yaml(lua_State *L) {
  luaL_newmetatable(L, YAML_LOADER);
  luaL_setfuncs(L, loader_metas, 0);
  luaL_newmetatable(L, YAML_MARKS_MT);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  luaL_newmetatable(L, JSON_ARRAY_MT); /* whichever of yaml/json opens first creates them */
  luaL_newmetatable(L, JSON_OBJECT_MT);
  lua_pop(L, 4);

  luaL_newlib(L, yaml_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
