/*
 * host.xml -- XML documents (AWS query-protocol and S3 responses) as Lua tables.
 *
 *   xml.decode(text) -> root | nil, err
 *   xml.child(el, name) -> element | nil        xml.children(el [, name]) -> { element... }
 *   xml.find(el [, path]) -> element | nil      xml.text(el [, path]) -> string | nil
 *
 * An element is { name = "Raw:Name", attrs = { [name] = value }, text = "...",
 * [1] = child1, [2] = child2, ... }: `text` is the element's own character data
 * (CDATA included, entities decoded, whitespace kept, children's text left out),
 * always a string; `attrs` is always a table. Names are kept as written: no
 * namespace processing, so `xmlns` and `xmlns:p` stay in attrs and a prefixed
 * name stays "p:Name". Input is always read as UTF-8 (the XML declaration's
 * encoding is ignored), so every string in the result is UTF-8.
 *
 * Errors are values: "xml: line L col C: <expat message>" (both 1-based),
 * "xml: line L col C: nesting too deep" past 512 levels, and
 * "xml: DTDs are not accepted" for any <!DOCTYPE>: AWS never sends one, and
 * refusing it before its internal subset is read means no entity can be
 * declared (no entity expansion, no external entities).
 *
 * Memory safety: expat calls us back from inside XML_Parse, so a Lua error
 * must not longjmp out of a callback. The parser and the per-level text
 * buffers live in a userdata created first (its __gc frees them on every
 * path); each callback does its Lua work through lua_pcall, and on failure
 * stops the parser and leaves the error object on the stack, re-raised once
 * XML_Parse has returned.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <lauxlib.h>

#include "host.h"

#define PARSER "lakehost.xml.parser" /* shown by luaL_typeerror */

#define MAX_DEPTH 512
#define FEED_CHUNK (1 << 24) /* XML_Parse takes an int length */

enum { ST_OK, ST_LUA, ST_MSG, ST_DTD };

/* One open element: its text so far and how many children it has. */
typedef struct {
  char *s;
  size_t len, cap;
  lua_Integer nchildren;
} Level;

typedef struct {
  XML_Parser p;  /* NULL once released */
  Level *levels; /* MAX_DEPTH entries; levels[d - 1] is the element at depth d */
  lua_State *L;
  int stack;             /* absolute index of the element stack: stack[d] = element at depth d */
  int depth;             /* open elements */
  int status;            /* ST_*; ST_LUA: the error object is on top of L's stack */
  const char *msg;       /* ST_MSG */
  lua_Integer line, col; /* ST_MSG position */
  const XML_Char *name;  /* arguments of the start event, for build_start */
  const XML_Char **atts;
} Doc;

/* Frees the parser and the text buffers; idempotent. */
static void doc_release(Doc *d) {
  int i;
  if (d->p != NULL) {
    XML_ParserFree(d->p);
    d->p = NULL;
  }
  if (d->levels != NULL) {
    for (i = 0; i < MAX_DEPTH; i++) free(d->levels[i].s);
    free(d->levels);
    d->levels = NULL;
  }
}

/* parser:__gc() */
static int parser_gc(lua_State *L) {
  doc_release((Doc *)luaL_checkudata(L, 1, PARSER));
  return 0;
}

/* Stops the parser with a message at the current position. */
static void stop(Doc *d, const char *msg) {
  d->status = ST_MSG;
  d->msg = msg;
  d->line = (lua_Integer)XML_GetCurrentLineNumber(d->p);
  d->col = (lua_Integer)XML_GetCurrentColumnNumber(d->p) + 1;
  XML_StopParser(d->p, XML_FALSE);
}

/* Runs fn(stack, doc) under lua_pcall. Nothing here allocates before the
 * pcall (light C function, existing value, light userdata). */
static void protected_call(Doc *d, lua_CFunction fn) {
  lua_State *L = d->L;
  if (!lua_checkstack(L, 3)) {
    stop(d, "out of memory");
    return;
  }
  lua_pushcfunction(L, fn);
  lua_pushvalue(L, d->stack);
  lua_pushlightuserdata(L, d);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    d->status = ST_LUA; /* [..., err] stays until XML_Parse returns */
    XML_StopParser(d->p, XML_FALSE);
  }
}

/* [stack, doc] -> creates the element for d->name/d->atts at depth + 1. */
static int build_start(lua_State *L) {
  Doc *d = (Doc *)lua_touserdata(L, 2);
  const XML_Char **a;
  lua_createtable(L, 0, 3); /* [stack, doc, el] */
  lua_pushstring(L, d->name);
  lua_setfield(L, -2, "name");
  lua_newtable(L); /* [stack, doc, el, attrs] */
  for (a = d->atts; a[0] != NULL; a += 2) {
    lua_pushstring(L, a[1]);
    lua_setfield(L, -2, a[0]);
  }
  lua_setfield(L, -2, "attrs");
  if (d->depth > 0) {
    Level *parent = &d->levels[d->depth - 1];
    lua_rawgeti(L, 1, d->depth); /* [stack, doc, el, parent] */
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, parent->nchildren + 1);
    parent->nchildren++;
    lua_pop(L, 1);
  }
  lua_rawseti(L, 1, d->depth + 1); /* stack[depth + 1] = el */
  return 0;
}

/* [stack, doc] -> sets the text of the element at depth. */
static int build_end(lua_State *L) {
  Doc *d = (Doc *)lua_touserdata(L, 2);
  Level *lv = &d->levels[d->depth - 1];
  lua_rawgeti(L, 1, d->depth); /* [stack, doc, el] */
  lua_pushlstring(L, lv->s != NULL ? lv->s : "", lv->len);
  lua_setfield(L, -2, "text");
  return 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  Doc *d = (Doc *)ud;
  Level *lv;
  if (d->status != ST_OK) return;
  if (d->depth >= MAX_DEPTH) {
    stop(d, "nesting too deep");
    return;
  }
  d->name = name;
  d->atts = atts;
  protected_call(d, build_start);
  if (d->status != ST_OK) return;
  d->depth++;
  lv = &d->levels[d->depth - 1];
  lv->len = 0;
  lv->nchildren = 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  Doc *d = (Doc *)ud;
  (void)name;
  if (d->status != ST_OK) return;
  protected_call(d, build_end);
  if (d->status != ST_OK) return;
  d->depth--;
}

/* Appends character data to the open element's C buffer (no Lua here). */
static void XMLCALL on_chars(void *ud, const XML_Char *s, int len) {
  Doc *d = (Doc *)ud;
  Level *lv;
  size_t need;
  if (d->status != ST_OK || d->depth == 0 || len <= 0) return;
  lv = &d->levels[d->depth - 1];
  if ((size_t)len > SIZE_MAX - lv->len) {
    stop(d, "out of memory");
    return;
  }
  need = lv->len + (size_t)len;
  if (need > lv->cap) {
    size_t cap = lv->cap < 64 ? 64 : lv->cap;
    char *ns;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    ns = (char *)realloc(lv->s, cap);
    if (ns == NULL) {
      stop(d, "out of memory");
      return;
    }
    lv->s = ns;
    lv->cap = cap;
  }
  memcpy(lv->s + lv->len, s, (size_t)len);
  lv->len = need;
}

/* Any DOCTYPE: refuse before its internal subset is read. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  Doc *d = (Doc *)ud;
  (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
  if (d->status != ST_OK) return;
  d->status = ST_DTD;
  XML_StopParser(d->p, XML_FALSE);
}

/* Never reached while on_doctype stops the parser; kept as a second lock. */
static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation) {
  Doc *d = (Doc *)ud;
  (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
  (void)pubid, (void)notation;
  if (d->status != ST_OK) return;
  d->status = ST_DTD;
  XML_StopParser(d->p, XML_FALSE);
}

/* Creates the parser in d and installs the handlers; 0 when out of memory. */
static int doc_init(Doc *d) {
  d->levels = (Level *)calloc(MAX_DEPTH, sizeof *d->levels);
  /* "UTF-8" overrides the document's encoding declaration. */
  d->p = XML_ParserCreate("UTF-8");
  if (d->levels == NULL || d->p == NULL) return 0;
  XML_SetUserData(d->p, d);
  XML_SetElementHandler(d->p, on_start, on_end);
  XML_SetCharacterDataHandler(d->p, on_chars);
  XML_SetStartDoctypeDeclHandler(d->p, on_doctype);
  XML_SetEntityDeclHandler(d->p, on_entity);
  /* The default, made explicit: no external parameter entities, ever. */
  XML_SetParamEntityParsing(d->p, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef XML_DTD /* only declared when the headers say the library has DTD support */
  XML_SetBillionLaughsAttackProtectionMaximumAmplification(d->p, 10.0f);
  XML_SetBillionLaughsAttackProtectionActivationThreshold(d->p, 1024 * 1024);
#endif
  return 1;
}

/* xml.decode(text) -> root | nil, err */
static int xml_decode(lua_State *L) {
  size_t n, off = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  enum XML_Status rc;
  Doc *d = (Doc *)lua_newuserdatauv(L, sizeof *d, 0);
  memset(d, 0, sizeof *d); /* released state until doc_init: __gc is always safe */
  luaL_setmetatable(L, PARSER);
  lua_createtable(L, 16, 0); /* [text, doc, stack] */
  d->L = L;
  d->stack = lua_gettop(L);
  if (!doc_init(d)) {
    doc_release(d);
    luaL_pushfail(L);
    lua_pushliteral(L, "xml: out of memory");
    return 2;
  }
  do {
    size_t len = n - off > FEED_CHUNK ? FEED_CHUNK : n - off;
    int final = off + len == n;
    rc = XML_Parse(d->p, s + off, (int)len, final);
    off += len;
  } while (rc == XML_STATUS_OK && off < n);

  if (d->status == ST_LUA) {
    doc_release(d);
    return lua_error(L); /* the callback's error object is on top */
  }
  if (d->status == ST_DTD) {
    doc_release(d);
    luaL_pushfail(L);
    lua_pushliteral(L, "xml: DTDs are not accepted");
    return 2;
  }
  if (d->status == ST_MSG || rc != XML_STATUS_OK) {
    const char *msg = d->msg;
    lua_Integer line = d->line, col = d->col;
    if (d->status != ST_MSG) {
      enum XML_Error code = XML_GetErrorCode(d->p);
      msg = XML_ErrorString(code);
      if (msg == NULL) msg = "unknown error";
      line = (lua_Integer)XML_GetCurrentLineNumber(d->p);
      col = (lua_Integer)XML_GetCurrentColumnNumber(d->p) + 1;
    }
    doc_release(d);
    luaL_pushfail(L);
    lua_pushfstring(L, "xml: line %I col %I: %s", line, col, msg);
    return 2;
  }
  doc_release(d);
  lua_rawgeti(L, d->stack, 1); /* the root; expat guarantees exactly one */
  return 1;
}

/* 1 if the value at idx is a table whose raw "name" is (name, len). */
static int is_named(lua_State *L, int idx, const char *name, size_t len) {
  size_t n;
  const char *s;
  int yes;
  if (!lua_istable(L, idx)) return 0;
  lua_pushliteral(L, "name");
  lua_rawget(L, idx < 0 ? idx - 1 : idx);
  s = lua_tolstring(L, -1, &n);
  yes = lua_type(L, -1) == LUA_TSTRING && (name == NULL || (n == len && memcmp(s, name, n) == 0));
  lua_pop(L, 1);
  return yes;
}

/* Pushes the first child element of the table at idx named (name, len); 0 if none. */
static int push_child(lua_State *L, int idx, const char *name, size_t len) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (is_named(L, -1, name, len)) return 1;
    lua_pop(L, 1);
  }
  return 0;
}

/* Pushes the element at the '/'-separated path (arg 2, optional) below arg 1, or nil. */
static void push_path(lua_State *L) {
  size_t n;
  const char *path = luaL_optlstring(L, 2, NULL, &n), *seg, *end;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, 1);
  if (path == NULL) return;
  seg = path;
  for (;;) {
    end = (const char *)memchr(seg, '/', n - (size_t)(seg - path));
    if (end == NULL) end = path + n;
    if (end == seg) luaL_argerror(L, 2, "empty name in path");
    if (!push_child(L, -1, seg, (size_t)(end - seg))) {
      lua_pop(L, 1);
      lua_pushnil(L);
      return;
    }
    lua_remove(L, -2);
    if (end == path + n) return;
    seg = end + 1;
  }
}

/* xml.child(el, name) -> first child element with that name | nil */
static int xml_child(lua_State *L) {
  size_t n;
  const char *name;
  luaL_checktype(L, 1, LUA_TTABLE);
  name = luaL_checklstring(L, 2, &n);
  if (!push_child(L, 1, name, n)) lua_pushnil(L);
  return 1;
}

/* xml.children(el [, name]) -> array of child elements (with that name) */
static int xml_children(lua_State *L) {
  size_t n = 0;
  const char *name;
  lua_Integer i, len, k = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  name = luaL_optlstring(L, 2, NULL, &n);
  len = (lua_Integer)lua_rawlen(L, 1);
  lua_newtable(L); /* [el, name?, out] */
  for (i = 1; i <= len; i++) {
    lua_rawgeti(L, 1, i);
    if (is_named(L, -1, name, n)) {
      lua_rawseti(L, -2, ++k);
    } else {
      lua_pop(L, 1);
    }
  }
  return 1;
}

/* xml.find(el [, "A/B/C"]) -> element at that path of child names | nil */
static int xml_find(lua_State *L) {
  push_path(L);
  return 1;
}

/* xml.text(el [, "A/B"]) -> text of the element at that path | nil */
static int xml_text(lua_State *L) {
  push_path(L);
  if (lua_istable(L, -1)) {
    lua_pushliteral(L, "text");
    lua_rawget(L, -2);
    if (lua_type(L, -1) != LUA_TSTRING) lua_pushnil(L);
  }
  return 1;
}

static const luaL_Reg xml_funcs[] = {{"decode", xml_decode},     {"child", xml_child},
                                     {"children", xml_children}, {"find", xml_find},
                                     {"text", xml_text},         {NULL, NULL}};

static const luaL_Reg parser_metas[] = {{"__gc", parser_gc}, {NULL, NULL}};

int luaopen_host_xml(lua_State *L) {
  luaL_newmetatable(L, PARSER);
  luaL_setfuncs(L, parser_metas, 0);
  lua_pop(L, 1);
  luaL_newlib(L, xml_funcs);
  return 1;
}
