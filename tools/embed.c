/*
 * embed.c -- build-time generator: the Lua library and the data files as C.
 *
 *   embed OUT.c FILE...
 *
 * Run from the repository root, with each FILE relative to it. A FILE named
 * lua/<path>.lua is a module: loaded as text with the chunk name
 * "@lua/<path>.lua", so that errors and tracebacks name the real file, and
 * dumped with lua_dump keeping its debug information (line numbers, local
 * names). Its module name is <path> with '/' as '.', a trailing ".init"
 * dropped (lua/lake/init.lua is "lake"). Any other FILE (docker/Dockerfile.*,
 * the JSON files of data/resources/) is data, embedded under its path deflated by zlib
 * (the resource schemas are 4.7 MB of JSON and 0.7 MB deflated); host.embedded
 * inflates a file when it is asked for.
 *
 * OUT.c defines lakehost_lua_modules and lakehost_data_files (host/host.h),
 * each sorted by name and ended by an entry whose name is NULL. It depends
 * only on the names and bytes of the files, whatever their order on the
 * command line: the same sources give the same OUT.c. It is written under
 * OUT.c.tmp and renamed once complete, so a failed run leaves no OUT.c that
 * make would take for up to date.
 *
 * Exit status 1 on any failure, with one line on stderr; a syntax error
 * reads as Lua reports it, "lua/lake/x.lua:12: message".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <zlib.h>

#define MODULE_DIR "lua/"
#define MODULE_EXT ".lua"
#define BYTES_PER_LINE 20

/* A growable byte buffer (a file's text, a dumped chunk). */
typedef struct {
  unsigned char *p;
  size_t len, cap;
} Bytes;

/* One file to embed. */
typedef struct {
  const char *path; /* as given: "lua/lake/app.lua" */
  char *name;       /* "lake.app", or the path of a data file */
  char *chunkname;  /* "@lua/lake/app.lua"; NULL for a data file */
  Bytes data;       /* the dumped chunk, or the file's bytes deflated */
  size_t raw_len;   /* a data file's length before deflating; 0 for a module */
} Entry;

/* The output file; failed is set by the first write that failed. */
typedef struct {
  FILE *f;
  int failed;
} Out;

/* ---------------------------------------------------------------- helpers */

static void fail(const char *fmt, ...) {
  va_list ap;
  fputs("embed: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* Makes room for n more bytes; 0, or -1 when memory ran out. */
static int bytes_reserve(Bytes *b, size_t n) {
  size_t cap = b->cap ? b->cap : 4096;
  unsigned char *p;
  if (n <= b->cap - b->len) return 0;
  while (cap - b->len < n) {
    if (cap > (size_t)-1 / 2) return -1;
    cap *= 2;
  }
  p = realloc(b->p, cap);
  if (p == NULL) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int bytes_add(Bytes *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (bytes_reserve(b, n) != 0) return -1;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The whole of path into b; 0, or -1 after saying why. */
static int read_file(const char *path, Bytes *b) {
  FILE *f = fopen(path, "rb");
  int rc = 0;
  if (f == NULL) {
    fail("%s: %s", path, strerror(errno));
    return -1;
  }
  for (;;) {
    size_t got;
    if (bytes_reserve(b, 65536) != 0) {
      fail("%s: not enough memory", path);
      rc = -1;
      break;
    }
    got = fread(b->p + b->len, 1, b->cap - b->len, f);
    b->len += got;
    if (got == 0) {
      if (ferror(f)) {
        fail("%s: read error", path);
        rc = -1;
      }
      break;
    }
  }
  if (fclose(f) != 0 && rc == 0) {
    fail("%s: %s", path, strerror(errno));
    rc = -1;
  }
  return rc;
}

/* "lua/lake/pipeline/init.lua" -> "lake.pipeline" (a new string), or NULL
 * after saying why: a name Lua's require could not map back to the path. */
static char *module_name(const char *path) {
  size_t len = strlen(path) - strlen(MODULE_DIR) - strlen(MODULE_EXT);
  char *name = malloc(len + 1), *p;
  if (name == NULL) {
    fail("%s: not enough memory", path);
    return NULL;
  }
  memcpy(name, path + strlen(MODULE_DIR), len);
  name[len] = '\0';
  for (p = name; *p; p++) {
    if (*p == '.' || *p == ';' || *p == '?') break;
    if (*p == '/') *p = '.';
  }
  if (*p != '\0' || len == 0 || name[0] == '.' || name[len - 1] == '.' || strstr(name, "..")) {
    fail("%s: no module name for this path (one without '.', ';' or '?' before .lua)", path);
    free(name);
    return NULL;
  }
  if (ends_with(name, ".init")) {
    name[len - strlen(".init")] = '\0';
  } else if (strcmp(name, "init") == 0) {
    fail("%s: no module name for this path (init.lua of no folder)", path);
    free(name);
    return NULL;
  }
  return name;
}

/* Replaces e->data (a data file's bytes) by its zlib deflate at the best
 * compression; 0, or -1 after saying why. */
static int deflate_entry(Entry *e) {
  uLongf len = compressBound((uLong)e->data.len);
  unsigned char *out = malloc(len > 0 ? len : 1);
  int rc;
  if (out == NULL) {
    fail("%s: not enough memory", e->path);
    return -1;
  }
  rc = compress2(out, &len, e->data.p, (uLong)e->data.len, Z_BEST_COMPRESSION);
  if (rc != Z_OK) {
    fail("%s: zlib: %s", e->path, zError(rc));
    free(out);
    return -1;
  }
  e->raw_len = e->data.len;
  free(e->data.p);
  e->data.p = out;
  e->data.len = e->data.cap = len;
  return 0;
}

/* ------------------------------------------------------------- the chunks */

/* lua_Writer: appends to the Bytes at ud; non-zero stops lua_dump. */
static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  return bytes_add((Bytes *)ud, p, n) != 0;
}

/* Compiles the text of e->path and keeps its dump in e->data (replacing the
 * text); 0, or -1 after saying why. */
static int compile(lua_State *L, Entry *e) {
  Bytes chunk = {NULL, 0, 0};
  int rc = luaL_loadbufferx(L, (const char *)e->data.p, e->data.len, e->chunkname, "t");
  if (rc == LUA_ERRMEM) {
    fail("%s: not enough memory", e->path);
    lua_pop(L, 1);
    return -1;
  }
  if (rc != LUA_OK) {
    /* "lua/lake/x.lua:12: message", as Lua tells it; no prefix, so that
     * editors and CI logs find the place */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s\n", msg != NULL ? msg : "(error object is not a string)");
    lua_pop(L, 1);
    return -1;
  }
  rc = lua_dump(L, dump_writer, &chunk, 0); /* 0: debug information kept */
  lua_pop(L, 1);
  if (rc != 0) {
    fail("%s: not enough memory to dump the chunk", e->path);
    free(chunk.p);
    return -1;
  }
  free(e->data.p);
  e->data = chunk;
  return 0;
}

/* Fills e for path (a module when under lua/ and ending in .lua); 0, or -1
 * after saying why. */
static int load_entry(lua_State *L, Entry *e, const char *path) {
  e->path = path;
  if (strncmp(path, MODULE_DIR, strlen(MODULE_DIR)) == 0 && ends_with(path, MODULE_EXT)) {
    size_t n = strlen(path) + 2;
    if ((e->name = module_name(path)) == NULL) return -1;
    if ((e->chunkname = malloc(n)) == NULL) {
      fail("%s: not enough memory", path);
      return -1;
    }
    (void)snprintf(e->chunkname, n, "@%s", path); /* fits: n counted it */
  } else if ((e->name = xstrdup(path)) == NULL) {
    fail("%s: not enough memory", path);
    return -1;
  }
  if (read_file(path, &e->data) != 0) return -1;
  return e->chunkname != NULL ? compile(L, e) : deflate_entry(e);
}

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

/* ----------------------------------------------------------------- output */

static void emit(Out *o, const char *fmt, ...) {
  va_list ap;
  if (o->failed) return;
  va_start(ap, fmt);
  if (vfprintf(o->f, fmt, ap) < 0) o->failed = 1;
  va_end(ap);
}

/* A C string literal of s (paths and module names: printable ASCII, but
 * escaped all the same). */
static void emit_string(Out *o, const char *s) {
  emit(o, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      emit(o, "\\%c", c);
    else if (c < 0x20 || c > 0x7e)
      emit(o, "\\%03o", c);
    else
      emit(o, "%c", c);
  }
  emit(o, "\"");
}

/* A C comment naming path ("*" + "/" in it written apart). */
static void emit_comment(Out *o, const char *path) {
  emit(o, "\n/* ");
  for (; *path; path++) emit(o, path[0] == '*' && path[1] == '/' ? "* " : "%c", *path);
  emit(o, " */\n");
}

static void emit_data(Out *o, const Entry *e, size_t index) {
  size_t i;
  emit_comment(o, e->path);
  emit(o, "static const unsigned char data_%zu[] = {", index);
  if (e->data.len == 0) emit(o, "0"); /* C has no empty arrays; size says 0 */
  for (i = 0; i < e->data.len; i++)
    emit(o, "%s%u,", i % BYTES_PER_LINE == 0 ? "\n    " : "", (unsigned)e->data.p[i]);
  emit(o, "\n};\n");
}

/* The table of the entries whose chunkname is (modules) or is not set. */
static void emit_table(Out *o, const char *table, const Entry *entries, size_t n, int modules) {
  size_t i;
  emit(o, "\nconst struct lakehost_embedded %s[] = {\n", table);
  for (i = 0; i < n; i++) {
    const Entry *e = &entries[i];
    if ((e->chunkname != NULL) != modules) continue;
    emit(o, "    {");
    emit_string(o, e->name);
    emit(o, ", ");
    if (modules)
      emit_string(o, e->chunkname);
    else
      emit(o, "NULL");
    emit(o, ", data_%zu, %zu, %zu},\n", i, e->data.len, e->raw_len);
  }
  emit(o, "    {NULL, NULL, NULL, 0, 0}};\n");
}

/* Writes the generated C of the sorted entries to out; 0, or -1 after
 * saying why (out then does not exist). */
static int write_output(const char *out, const Entry *entries, size_t n) {
  size_t len = strlen(out) + sizeof ".tmp";
  char *tmp = malloc(len);
  Out o = {NULL, 0};
  size_t i;
  if (tmp == NULL) {
    fail("%s: not enough memory", out);
    return -1;
  }
  (void)snprintf(tmp, len, "%s.tmp", out); /* fits: len counted it */
  if ((o.f = fopen(tmp, "w")) == NULL) {
    fail("%s: %s", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  emit(&o,
       "/* Generated by tools/embed.c: do not edit. The Lua modules are lua_dump\n"
       " * output with debug information; the data files are deflated (zlib). */\n"
       "#include <stddef.h>\n\n#include \"host.h\"\n");
  for (i = 0; i < n; i++) emit_data(&o, &entries[i], i);
  emit_table(&o, "lakehost_lua_modules", entries, n, 1);
  emit_table(&o, "lakehost_data_files", entries, n, 0);
  if (fclose(o.f) != 0) o.failed = 1;
  if (o.failed) {
    fail("%s: write error", tmp);
  } else if (rename(tmp, out) != 0) {
    fail("%s -> %s: %s", tmp, out, strerror(errno));
    o.failed = 1;
  }
  if (o.failed) (void)remove(tmp); /* what there is of it; failed already */
  free(tmp);
  return o.failed ? -1 : 0;
}

int main(int argc, char **argv) {
  size_t n = argc > 2 ? (size_t)argc - 2 : 0, i;
  Entry *entries;
  lua_State *L;
  int rc = 1;

  if (argc < 3) {
    fprintf(stderr, "usage: embed OUT.c FILE...\n");
    return 2;
  }
  if ((entries = calloc(n, sizeof *entries)) == NULL) {
    fail("not enough memory");
    return 1;
  }
  if ((L = luaL_newstate()) == NULL) {
    fail("cannot create a Lua state: not enough memory");
    free(entries);
    return 1;
  }
  for (i = 0; i < n; i++)
    if (load_entry(L, &entries[i], argv[i + 2]) != 0) goto done;
  qsort(entries, n, sizeof *entries, entry_cmp);
  for (i = 1; i < n; i++) {
    if (strcmp(entries[i - 1].name, entries[i].name) == 0) {
      fail("%s and %s are both '%s'", entries[i - 1].path, entries[i].path, entries[i].name);
      goto done;
    }
  }
  if (write_output(argv[1], entries, n) == 0) rc = 0;

done:
  lua_close(L);
  for (i = 0; i < n; i++) {
    free(entries[i].name);
    free(entries[i].chunkname);
    free(entries[i].data.p);
  }
  free(entries);
  return rc;
}
