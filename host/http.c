/*
 * http.c -- host.http: HTTP(S) requests through libcurl.
 *
 *   http.request(req) -> resp | nil, msg, kind
 *   http.request_all(reqs [, max_parallel]) -> results
 *     (kind "interrupted" in either: a second SIGINT/SIGTERM under proc.trap_interrupts
 *     arrived during the transfer and aborted it)
 *   http.url_encode(s) -> string
 *   http.form_encode(tbl) -> string
 *   http.parse_url(url) -> {scheme, host, port, path, query} | nil, msg
 *   http.version() -> string
 *
 * One easy handle per Lua state lives in the registry ("lakehost.http.handle");
 * curl_easy_reset between requests keeps its connection, DNS and TLS session
 * caches, so sequential requests to one host reuse the connection.
 *
 * http.request_all runs the requests of the array reqs (each a table as
 * http.request takes) over one curl multi handle, at most max_parallel
 * (default 4, 1..64) at a time, started in array order; results[i] is
 * table.pack(<what http.request(reqs[i]) would return>): {resp, n = 1} or
 * {nil, msg, kind, n = 3}, so table.unpack(results[i], 1, results[i].n) reads
 * like http.request. One failing request (refused, timed out, a file that
 * cannot be opened) fails only its own element; misuse in any request raises
 * before anything is sent. The multi handle keeps the batch's connections
 * (reused between its requests), not the state's easy handle, and is freed
 * when the call ends. Files are opened when a transfer starts, so no more
 * than max_parallel bodies are open at once.
 *
 * Longjmp safety: the curl callbacks never call Lua. Body, headers, files and
 * the header list of a request belong to a "transfer" userdata created before
 * anything is acquired, so its __gc frees them whatever raises later. Results
 * are pushed to Lua only after curl_easy_perform returned and the easy handle
 * was reset (the handle then holds no pointer into the transfer).
 * http.request_all keeps its transfers in a "batch" userdata (malloc'd items,
 * each an easy handle and the transfer it points into, and the multi handle),
 * created first and marked to-be-closed: results are pushed between curl
 * calls, after the finished handle left the multi and was cleaned up, and if
 * anything raises, the batch's __close takes every running handle out of the
 * multi before freeing it and its transfer.
 *
 * Environment: libcurl itself reads http_proxy, https_proxy/HTTPS_PROXY,
 * ALL_PROXY/all_proxy and NO_PROXY/no_proxy for every request made without
 * CURLOPT_PROXY (uppercase HTTP_PROXY is ignored by libcurl on purpose, see
 * CURLOPT_PROXY(3)). The CA bundle is taken from AWS_CA_BUNDLE, CURL_CA_BUNDLE
 * or SSL_CERT_FILE (first one set) and SSL_CERT_DIR, read at each request.
 *
 * curl_global_init runs once per process (luaopen); curl_global_cleanup is
 * never called: a __gc of one Lua state cannot know whether other states
 * still use curl, and the process exit releases everything.
 *
 * CURLOPT_NOSIGNAL is left off: Debian's libcurl uses the threaded resolver
 * (no SIGALRM), and with it off curl ignores SIGPIPE during a transfer.
 */
#define _XOPEN_SOURCE 700

#include <curl/curl.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

#define HANDLE_T "lakehost.http.easy"     /* metatable of the easy handle userdata */
#define XFER_T "lakehost.http.transfer"   /* buffers and files of one request */
#define URL_T "lakehost.http.url"         /* a CURLU and its parts */
#define BATCH_T "lakehost.http.batch"     /* the transfers of one http.request_all */
#define HANDLE_KEY "lakehost.http.handle" /* registry key of the handle */

#define DEFAULT_TIMEOUT 300.0                   /* seconds, whole transfer */
#define DEFAULT_CONNECT_TIMEOUT 10.0            /* seconds */
#define DEFAULT_MAX_BYTES ((curl_off_t)1 << 30) /* memory bodies: 1 GiB */
#define MAX_HEADER_BYTES ((size_t)1 << 20)      /* all header lines of one response */
#define MAX_REDIRS 10L
#define WHERE_SIZE 300
#define DEFAULT_PARALLEL 4 /* http.request_all: transfers at once */
#define MAX_PARALLEL 64
#define MAX_BATCH ((lua_Integer)1 << 20) /* requests in one http.request_all */
#define POLL_MS 1000                     /* longest curl_multi_poll wait */

/* A growable byte buffer owned by C (never by Lua). */
typedef struct {
  char *p;
  size_t len, cap;
} Buf;

typedef struct {
  CURL *curl; /* NULL once collected */
} Handle;

/* Everything one request owns; zeroed at creation, freed by xfer_release. */
typedef struct {
  CURL *curl;              /* borrowed, for getinfo in the write callback */
  Buf body;                /* memory body (or a non-2xx body in file mode) */
  Buf head;                /* header lines of the last response */
  struct curl_slist *hdrs; /* request headers */
  const char *src;         /* string body (anchored on the Lua stack) */
  size_t srclen, srcpos;
  FILE *in;                /* body_file */
  FILE *out;               /* output_file's temporary */
  char *tmp;               /* its path (malloc), NULL once renamed/removed */
  curl_off_t max;          /* response body limit, -1 = none (output_file) */
  curl_off_t limit;        /* the limit on_write found exceeded */
  curl_off_t got;          /* body bytes seen */
  int decided;             /* the first body byte arrived: to_file is known */
  int to_file;             /* 2xx with output_file: body goes to the file */
  int oom, too_large;      /* why a callback aborted */
  int interrupted;         /* a second Ctrl-C arrived during the transfer */
  sig_atomic_t signals;    /* lakehost_interrupts when the transfer began */
  int in_errno, out_errno; /* errno of a failed read/write, 0 = none */
  char err[CURL_ERROR_SIZE];
} Xfer;

typedef struct {
  CURLU *u;
  char *part[5]; /* curl_free'd by __gc */
} Url;

/* What http.request read from its table; strings are anchored on the stack
 * (http.request_all: in the batch's anchor table). */
typedef struct {
  const char *url, *method, *body_file, *output_file;
  long timeout_ms, connect_timeout_ms, low_speed_time, low_speed_limit;
  int follow, has_body, is_head;
  lua_Integer maxb;       /* max_response_bytes, -1 = not given */
  curl_off_t upload_size; /* body length, or body_file's size once opened */
} Req;

/* What a finished transfer reports (curl_easy_getinfo). */
typedef struct {
  long status, version;
  double total;
  curl_off_t up, down;
  char where[WHERE_SIZE]; /* "host:port" of the effective URL, or "" */
} Info;

enum { ITEM_PENDING = 0, ITEM_RUNNING, ITEM_DONE };

/* One request of http.request_all: its easy handle (NULL unless running)
 * and the transfer it owns. */
typedef struct {
  CURL *easy;
  Req r;
  Xfer x;
  int state;
} Item;

/* Everything one http.request_all owns; freed by batch_release (__close,
 * __gc), whatever raised. */
typedef struct {
  CURLM *multi; /* NULL until created, and once released */
  Item *items;  /* calloc'd, n of them */
  lua_Integer n;
} Batch;

/* ---- buffers -------------------------------------------------------- */

static int buf_reserve(Buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra > (size_t)-1 - b->len) return -1;
  need = b->len + extra;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  p = realloc(b->p, cap);
  if (p == NULL) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_add(Buf *b, const char *s, size_t n) {
  if (n == 0) return 0;
  if (buf_reserve(b, n) != 0) return -1;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static void buf_free(Buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- check/to helpers ----------------------------------------------- */

/* The state's easy handle, created on first use; NULL when curl cannot. */
static CURL *get_curl(lua_State *L) {
  Handle *h;
  if (lua_getfield(L, LUA_REGISTRYINDEX, HANDLE_KEY) == LUA_TUSERDATA) {
    h = (Handle *)luaL_checkudata(L, -1, HANDLE_T);
    lua_pop(L, 1);
    return h->curl;
  }
  lua_pop(L, 1);
  h = (Handle *)lua_newuserdatauv(L, sizeof *h, 0);
  h->curl = NULL;
  luaL_setmetatable(L, HANDLE_T);
  h->curl = curl_easy_init();
  if (h->curl == NULL) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_setfield(L, LUA_REGISTRYINDEX, HANDLE_KEY);
  return h->curl;
}

/* "host:port" of url into out, or "" when it does not parse. */
static void describe_host(const char *url, char *out, size_t outsz) {
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL;
  out[0] = '\0';
  if (u == NULL || url == NULL) goto done;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) port = NULL;
  snprintf(out, outsz, "%s%s%s", host, port ? ":" : "", port ? port : "");
done:
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
}

static int tolower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s, size_t len) {
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len; i++)
    if (!is_tchar((unsigned char)s[i])) return 0;
  return 1;
}

/* Optional string field of the request table at index t, left on the stack
 * (anchored until the caller drops it); NULL when absent (nil is left). */
static const char *opt_string(lua_State *L, int t, const char *who, const char *key, size_t *len,
                              int no_nul) {
  size_t n;
  const char *s;
  int ty = lua_getfield(L, t, key);
  if (ty == LUA_TNIL) return NULL;
  if (ty != LUA_TSTRING)
    luaL_error(L, "%s: field '%s' must be a string, got %s", who, key, luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &n);
  if (no_nul && strlen(s) != n) luaL_error(L, "%s: field '%s' contains a NUL byte", who, key);
  if (len) *len = n;
  return s;
}

/* Optional number field in seconds (>= 0) as milliseconds; dflt when absent. */
static long opt_ms(lua_State *L, int t, const char *who, const char *key, double dflt) {
  double s = dflt;
  int ty = lua_getfield(L, t, key);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER)
      luaL_error(L, "%s: field '%s' must be a number, got %s", who, key, luaL_typename(L, -1));
    s = lua_tonumber(L, -1);
    if (!(s >= 0.0) || s > 1e9)
      luaL_error(L, "%s: field '%s' must be between 0 and 1e9 seconds", who, key);
  }
  lua_pop(L, 1);
  if (s > 0.0 && s < 0.001) return 1;
  return (long)(s * 1000.0 + 0.5);
}

/* Optional non-negative integer field; -1 when absent. */
static lua_Integer opt_count(lua_State *L, int t, const char *who, const char *key) {
  lua_Integer v = -1;
  int isnum;
  if (lua_getfield(L, t, key) != LUA_TNIL) {
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || lua_type(L, -1) != LUA_TNUMBER || v < 0)
      luaL_error(L, "%s: field '%s' must be a non-negative integer", who, key);
  }
  lua_pop(L, 1);
  return v;
}

/* Raises on any key of the request table at t that is not a known field. */
static void check_fields(lua_State *L, int t, const char *who) {
  static const char *const known[] = {"method",
                                      "url",
                                      "headers",
                                      "body",
                                      "body_file",
                                      "output_file",
                                      "timeout",
                                      "connect_timeout",
                                      "low_speed_time",
                                      "low_speed_limit",
                                      "follow_redirects",
                                      "max_response_bytes",
                                      NULL};
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    const char *const *k;
    const char *name;
    size_t len;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: unknown field of type %s", who, luaL_typename(L, -1));
    name = lua_tolstring(L, -1, &len);
    for (k = known; *k != NULL; k++)
      if (strlen(*k) == len && memcmp(*k, name, len) == 0) break;
    if (*k == NULL) luaL_error(L, "%s: unknown field '%s'", who, name);
  }
}

/* Appends "name: value" (or "name;" for an empty value) to x->hdrs.
 * Expects name at -2 and value at -1; raises on a bad name or value. */
static int add_header(lua_State *L, Xfer *x, const char *who, int *seen_expect, int *seen_accept) {
  size_t nlen, vlen, i;
  const char *name, *value, *line;
  struct curl_slist *l;
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "%s: header name must be a string, got %s", who, luaL_typename(L, -2));
  name = lua_tolstring(L, -2, &nlen);
  if (!is_token(name, nlen)) luaL_error(L, "%s: invalid header name '%s'", who, name);
  if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "%s: header '%s' must have a string value, got %s", who, name,
               luaL_typename(L, -1));
  lua_pushvalue(L, -1); /* a copy, so a number converts without touching the table */
  value = lua_tolstring(L, -1, &vlen);
  for (i = 0; i < vlen; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
      luaL_error(L, "%s: header '%s' has a CR, LF or NUL in its value", who, name);
  while (vlen > 0 && (*value == ' ' || *value == '\t')) value++, vlen--;
  if (vlen == 0)
    line = lua_pushfstring(L, "%s;", name);
  else
    line = lua_pushfstring(L, "%s: %s", name, value);
  if (strcasecmp(name, "Expect") == 0) *seen_expect = 1;
  if (strcasecmp(name, "Accept") == 0) *seen_accept = 1;
  l = curl_slist_append(x->hdrs, line);
  lua_pop(L, 2);
  if (l == NULL) return -1;
  x->hdrs = l;
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds x->hdrs from the headers of the request table at rt (map sorted by
 * name, or array of pairs), then "Expect:" and "Accept:" unless given. 0, or
 * -1 when out of memory. */
static int build_headers(lua_State *L, int rt, const char *who, Xfer *x) {
  int seen_expect = 0, seen_accept = 0, t, top = lua_gettop(L);
  lua_Integer n, i, count = 0;
  size_t nlen;
  struct curl_slist *l;
  t = lua_getfield(L, rt, "headers"); /* [hdrs] */
  if (t != LUA_TNIL && t != LUA_TTABLE)
    luaL_error(L, "%s: field 'headers' must be a table, got %s", who, luaL_typename(L, -1));
  if (t == LUA_TTABLE) {
    int h = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, h) != 0) {
      lua_pop(L, 1);
      count++;
    }
    n = (lua_Integer)lua_rawlen(L, h);
    if (n > 0) { /* array of {name, value} */
      if (n != count) luaL_error(L, "%s: field 'headers' mixes array and map entries", who);
      for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, h, i) != LUA_TTABLE)
          luaL_error(L, "%s: headers[%d] must be a {name, value} table", who, (int)i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (add_header(L, x, who, &seen_expect, &seen_accept) != 0) goto oom;
        lua_pop(L, 3);
      }
    } else if (count > 0) { /* map name -> value, sent in name order */
      const char **names = (const char **)lua_newuserdatauv(L, (size_t)count * sizeof *names, 0);
      i = 0;
      lua_pushnil(L);
      while (lua_next(L, h) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
          luaL_error(L, "%s: header name must be a string, got %s", who, luaL_typename(L, -1));
        names[i] = lua_tolstring(L, -1, &nlen); /* anchored by the headers table */
        if (strlen(names[i]) != nlen) luaL_error(L, "%s: invalid header name", who);
        i++;
      }
      qsort(names, (size_t)count, sizeof *names, cmp_names);
      for (i = 0; i < count; i++) {
        lua_pushstring(L, names[i]);
        lua_pushvalue(L, -1);
        lua_rawget(L, h);
        if (add_header(L, x, who, &seen_expect, &seen_accept) != 0) goto oom;
        lua_pop(L, 2);
      }
    }
  }
  lua_settop(L, top);
  /* curl adds "Expect: 100-continue" to large uploads and "Accept: * / *"
   * to everything; an empty "Name:" header removes curl's own. */
  if (!seen_expect) {
    if ((l = curl_slist_append(x->hdrs, "Expect:")) == NULL) return -1;
    x->hdrs = l;
  }
  if (!seen_accept) {
    if ((l = curl_slist_append(x->hdrs, "Accept:")) == NULL) return -1;
    x->hdrs = l;
  }
  return 0;
oom:
  lua_settop(L, top);
  return -1;
}

/* ---- curl callbacks (never call Lua) ------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  Xfer *x = (Xfer *)ud;
  size_t n = size * nmemb;
  if (!x->decided) {
    long code = 0;
    curl_off_t cl = -1;
    x->decided = 1;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    x->to_file = x->out != NULL && code >= 200 && code < 300;
    if (!x->to_file &&
        curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0 &&
        cl <= (x->max >= 0 ? x->max : DEFAULT_MAX_BYTES) &&
        (unsigned long long)cl < (size_t)-1 / 2 && buf_reserve(&x->body, (size_t)cl) != 0) {
      x->oom = 1;
      return 0;
    }
  }
  {
    /* a body kept in memory is always bounded, even with output_file */
    curl_off_t lim = x->to_file || x->max >= 0 ? x->max : DEFAULT_MAX_BYTES;
    if (lim >= 0 && (curl_off_t)n > lim - x->got) {
      x->too_large = 1;
      x->limit = lim;
      return 0;
    }
  }
  x->got += (curl_off_t)n;
  if (x->to_file) {
    if (fwrite(p, 1, n, x->out) != n) {
      x->out_errno = errno ? errno : EIO;
      return 0;
    }
  } else if (buf_add(&x->body, p, n) != 0) {
    x->oom = 1;
    return 0;
  }
  return n;
}

/* Aborts the transfer when the user interrupted twice, the second time
 * during it (see proc.trap_interrupts): Ctrl-C twice must not wait for a
 * slow endpoint. A transfer begun after the second interrupt runs (the
 * caller's last words, such as releasing a lock). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  Xfer *x = ud;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  if (lakehost_interrupts >= 2 && lakehost_interrupts > x->signals) {
    x->interrupted = 1;
    return 1;
  }
  return 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  Xfer *x = (Xfer *)ud;
  size_t n = size * nmemb;
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) x->head.len = 0; /* a new response begins */
  if (x->head.len + n > MAX_HEADER_BYTES) {
    x->too_large = 2;
    return 0;
  }
  if (buf_add(&x->head, p, n) != 0) {
    x->oom = 1;
    return 0;
  }
  return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud) {
  Xfer *x = (Xfer *)ud;
  size_t room = size * nmemb, n;
  if (x->in != NULL) {
    n = fread(p, 1, room, x->in);
    if (n < room && ferror(x->in)) {
      x->in_errno = errno ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    return n;
  }
  n = x->srclen - x->srcpos;
  if (n > room) n = room;
  if (n > 0) memcpy(p, x->src + x->srcpos, n);
  x->srcpos += n;
  return n;
}

/* curl rewinds the upload on redirects and when a reused connection turned
 * out dead before the request went through. */
static int on_seek(void *ud, curl_off_t off, int origin) {
  Xfer *x = (Xfer *)ud;
  if (origin != SEEK_SET || off < 0) return CURL_SEEKFUNC_CANTSEEK;
  if (x->in != NULL) {
    clearerr(x->in);
    return fseeko(x->in, (off_t)off, SEEK_SET) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
  }
  if ((unsigned long long)off > x->srclen) return CURL_SEEKFUNC_FAIL;
  x->srcpos = (size_t)off;
  return CURL_SEEKFUNC_OK;
}

/* ---- __gc ------------------------------------------------------------ */

/* Frees everything of a transfer; removes a temporary that was not renamed.
 * Idempotent. */
static void xfer_release(Xfer *x) {
  buf_free(&x->body);
  buf_free(&x->head);
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;
  if (x->in != NULL) fclose(x->in);
  x->in = NULL;
  if (x->out != NULL) fclose(x->out);
  x->out = NULL;
  if (x->tmp != NULL) {
    unlink(x->tmp);
    free(x->tmp);
    x->tmp = NULL;
  }
}

static int xfer_gc(lua_State *L) {
  xfer_release((Xfer *)luaL_checkudata(L, 1, XFER_T));
  return 0;
}

/* Takes an item's easy handle out of the multi (when running) and frees it
 * and the item's transfer. Idempotent. At cleanup a failing libcurl call
 * leaves nothing to do: the handle is freed all the same. */
static void item_release(Batch *b, Item *it) {
  if (it->easy != NULL) {
    if (it->state == ITEM_RUNNING && b->multi != NULL)
      (void)curl_multi_remove_handle(b->multi, it->easy);
    curl_easy_cleanup(it->easy);
    it->easy = NULL;
  }
  it->x.curl = NULL;
  xfer_release(&it->x);
}

static int batch_gc(lua_State *L) {
  Batch *b = (Batch *)luaL_checkudata(L, 1, BATCH_T);
  lua_Integer i;
  for (i = 0; i < b->n; i++) item_release(b, &b->items[i]);
  free(b->items);
  b->items = NULL;
  b->n = 0;
  if (b->multi != NULL) (void)curl_multi_cleanup(b->multi); /* no handle left in it */
  b->multi = NULL;
  return 0;
}

static int handle_gc(lua_State *L) {
  Handle *h = (Handle *)luaL_checkudata(L, 1, HANDLE_T);
  if (h->curl != NULL) curl_easy_cleanup(h->curl);
  h->curl = NULL;
  return 0;
}

static int url_gc(lua_State *L) {
  Url *u = (Url *)luaL_checkudata(L, 1, URL_T);
  int i;
  for (i = 0; i < 5; i++) {
    curl_free(u->part[i]);
    u->part[i] = NULL;
  }
  if (u->u != NULL) curl_url_cleanup(u->u);
  u->u = NULL;
  return 0;
}

/* ---- results --------------------------------------------------------- */

/* Pushes nil, msg, kind; returns 3. */
static int push_fail(lua_State *L, const char *msg, const char *kind) {
  luaL_pushfail(L);
  lua_pushstring(L, msg);
  lua_pushstring(L, kind);
  return 3;
}

static const char *kind_of(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "dns";
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
      return "proxy";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return "tls";
    case CURLE_SEND_ERROR:
      return "send";
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return "recv";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return "url";
    case CURLE_FILESIZE_EXCEEDED:
      return "too_large";
    default:
      return "other";
  }
}

/* nil, msg, kind for a failed transfer; where is "host:port" or "". */
static int push_transfer_fail(lua_State *L, Xfer *x, CURLcode rc, const char *where, const Req *r) {
  const char *w1 = where[0] ? " (" : "", *w2 = where[0] ? ")" : "";
  if (x->oom) {
    lua_pushfstring(L, "http: out of memory%s%s%s", w1, where, w2);
    return push_fail(L, lua_tostring(L, -1), "other");
  }
  if (x->too_large == 2) {
    lua_pushfstring(L, "http: response headers larger than %d bytes%s%s%s", (int)MAX_HEADER_BYTES,
                    w1, where, w2);
    return push_fail(L, lua_tostring(L, -1), "too_large");
  }
  if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    char lim[32];
    snprintf(lim, sizeof lim, "%lld", (long long)(x->too_large ? x->limit : x->max));
    lua_pushfstring(L, "http: response body larger than max_response_bytes (%s)%s%s%s", lim, w1,
                    where, w2);
    return push_fail(L, lua_tostring(L, -1), "too_large");
  }
  if (x->interrupted) {
    lua_pushfstring(L, "http: interrupted%s%s%s", w1, where, w2);
    return push_fail(L, lua_tostring(L, -1), "interrupted");
  }
  if (x->in_errno) {
    lua_pushfstring(L, "http: cannot read %s: %s", r->body_file, strerror(x->in_errno));
    return push_fail(L, lua_tostring(L, -1), "file");
  }
  if (x->out_errno) {
    lua_pushfstring(L, "http: cannot write %s: %s", r->output_file, strerror(x->out_errno));
    return push_fail(L, lua_tostring(L, -1), "file");
  }
  if (x->err[0] != '\0' && strcmp(x->err, curl_easy_strerror(rc)) != 0)
    lua_pushfstring(L, "http: %s%s%s%s: %s", curl_easy_strerror(rc), w1, where, w2, x->err);
  else
    lua_pushfstring(L, "http: %s%s%s%s", curl_easy_strerror(rc), w1, where, w2);
  return push_fail(L, lua_tostring(L, -1), kind_of(rc));
}

/* Pushes the table of response headers parsed from x->head: lowercased names,
 * trimmed values, repeated names joined with ", ", folded lines unfolded. */
static void push_headers(lua_State *L, const Buf *head) {
  const char *p = head->p, *end = head->p + head->len;
  int first = 1, have_last = 0;
  lua_newtable(L); /* [hdrs] */
  while (p != NULL && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p)), *line = p, *le, *colon, *v;
    le = eol ? eol : end;
    p = eol ? eol + 1 : end;
    while (le > line && (le[-1] == '\r' || le[-1] == '\n')) le--;
    if (first) { /* status line */
      first = 0;
      continue;
    }
    if (le == line) continue;
    if ((*line == ' ' || *line == '\t') && have_last) { /* obsolete line folding */
      v = line;
      while (v < le && (*v == ' ' || *v == '\t')) v++;
      lua_pushvalue(L, -1); /* [hdrs, name, name] */
      lua_gettable(L, -3);  /* [hdrs, name, old] */
      lua_pushliteral(L, " ");
      lua_pushlstring(L, v, (size_t)(le - v));
      lua_concat(L, 3); /* [hdrs, name, old.." "..v] */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);   /* [hdrs, name, name, new] */
      lua_settable(L, -4); /* [hdrs, name] */
      continue;
    }
    if (have_last) lua_pop(L, 1); /* [hdrs] */
    have_last = 0;
    colon = memchr(line, ':', (size_t)(le - line));
    if (colon == NULL || colon == line) continue;
    {
      luaL_Buffer b;
      const char *c;
      luaL_buffinit(L, &b);
      for (c = line; c < colon; c++) luaL_addchar(&b, (char)tolower_ascii(*c));
      luaL_pushresult(&b); /* [hdrs, name] */
    }
    v = colon + 1;
    while (v < le && (*v == ' ' || *v == '\t')) v++;
    while (le > v && (le[-1] == ' ' || le[-1] == '\t')) le--;
    lua_pushvalue(L, -1);
    if (lua_gettable(L, -3) == LUA_TSTRING) { /* [hdrs, name, old] */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, v, (size_t)(le - v));
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, v, (size_t)(le - v));
    } /* [hdrs, name, value] */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);   /* [hdrs, name, name, value] */
    lua_settable(L, -4); /* [hdrs, name] */
    have_last = 1;
  }
  if (have_last) lua_pop(L, 1);
}

/* ---- one request: read, open, set up, collect ------------------------ */

/* First of the environment variables that is set and not empty, or NULL. */
static const char *first_env(const char *const *names) {
  for (; *names != NULL; names++) {
    const char *v = getenv(*names);
    if (v != NULL && v[0] != '\0') return v;
  }
  return NULL;
}

/* Closes the output temporary, then renames it to path (fail: -1, errno). */
static int commit_output(Xfer *x, const char *path) {
  FILE *f = x->out;
  x->out = NULL;
  if (fclose(f) != 0) return -1;
  if (rename(x->tmp, path) != 0) return -1;
  free(x->tmp);
  x->tmp = NULL;
  return 0;
}

static const char *version_name(long v) {
  switch (v) {
    case CURL_HTTP_VERSION_1_0:
      return "1.0";
    case CURL_HTTP_VERSION_1_1:
      return "1.1";
    case CURL_HTTP_VERSION_2_0:
      return "2";
    case CURL_HTTP_VERSION_3:
      return "3";
    default:
      return "";
  }
}

/* Reads and checks the request table at index t into r and x; misuse raises
 * with who ("http.request", "http.request_all: reqs[2]") in the message. The
 * strings r and x point to are left on the stack above t's top at entry: the
 * caller keeps them anchored until the transfer is over. 0, or -1 when out of
 * memory (building the header list). */
static int read_request(lua_State *L, int t, const char *who, Req *r, Xfer *x) {
  size_t mlen;
  int ty;
  luaL_checkstack(L, 12, "http: request fields");
  check_fields(L, t, who);
  memset(r, 0, sizeof *r);
  r->url = opt_string(L, t, who, "url", NULL, 1);
  if (r->url == NULL) luaL_error(L, "%s: field 'url' is required", who);
  r->method = opt_string(L, t, who, "method", &mlen, 0);
  if (r->method == NULL)
    r->method = "GET";
  else if (!is_token(r->method, mlen))
    luaL_error(L, "%s: invalid method '%s'", who, r->method);
  x->src = opt_string(L, t, who, "body", &x->srclen, 0);
  r->body_file = opt_string(L, t, who, "body_file", NULL, 1);
  r->output_file = opt_string(L, t, who, "output_file", NULL, 1);
  if (x->src != NULL && r->body_file != NULL)
    luaL_error(L, "%s: fields 'body' and 'body_file' exclude each other", who);
  r->timeout_ms = opt_ms(L, t, who, "timeout", DEFAULT_TIMEOUT);
  r->connect_timeout_ms = opt_ms(L, t, who, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  r->low_speed_time = (long)opt_count(L, t, who, "low_speed_time");
  r->low_speed_limit = (long)opt_count(L, t, who, "low_speed_limit");
  ty = lua_getfield(L, t, "follow_redirects");
  if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
    luaL_error(L, "%s: field 'follow_redirects' must be a boolean, got %s", who,
               luaL_typename(L, -1));
  r->follow = lua_toboolean(L, -1);
  lua_pop(L, 1);
  r->maxb = opt_count(L, t, who, "max_response_bytes");
  r->is_head = strcmp(r->method, "HEAD") == 0;
  if (r->is_head && (x->src != NULL || r->body_file != NULL))
    luaL_error(L, "%s: a HEAD request cannot have a body", who);
  /* POST, PUT and PATCH always send a body (Content-Length: 0 when none). */
  if (x->src == NULL && r->body_file == NULL &&
      (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
       strcmp(r->method, "PATCH") == 0)) {
    x->src = "";
    x->srclen = 0;
  }
  r->has_body = x->src != NULL || r->body_file != NULL;
  r->upload_size = (curl_off_t)x->srclen;
  x->max = r->maxb >= 0 ? (curl_off_t)r->maxb : DEFAULT_MAX_BYTES;
  return build_headers(L, t, who, x);
}

/* Opens body_file and output_file's temporary, owned by x from the moment
 * they exist. 0, or pushes nil, msg, "file" | "other" and returns 3. */
static int open_files(lua_State *L, Xfer *x, Req *r) {
  if (r->body_file != NULL) {
    struct stat st;
    x->in = fopen(r->body_file, "rb");
    if (x->in == NULL || fstat(fileno(x->in), &st) != 0 || !S_ISREG(st.st_mode)) {
      int e = x->in == NULL ? errno : (S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
      lua_pushfstring(L, "http: cannot open %s: %s", r->body_file,
                      e == EINVAL ? "not a regular file" : strerror(e));
      return push_fail(L, lua_tostring(L, -1), "file");
    }
    r->upload_size = (curl_off_t)st.st_size;
  }
  if (r->output_file != NULL) {
    size_t n = strlen(r->output_file) + sizeof ".tmp-XXXXXX";
    mode_t mask;
    int fd;
    x->tmp = (char *)malloc(n);
    if (x->tmp == NULL) return push_fail(L, "http: out of memory", "other");
    snprintf(x->tmp, n, "%s.tmp-XXXXXX", r->output_file);
    fd = mkstemp(x->tmp);
    if (fd < 0) {
      int e = errno;
      free(x->tmp);
      x->tmp = NULL;
      lua_pushfstring(L, "http: cannot write %s: %s", r->output_file, strerror(e));
      return push_fail(L, lua_tostring(L, -1), "file");
    }
    mask = umask(0); /* mkstemp made it 0600; give it the usual mode */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || (x->out = fdopen(fd, "wb")) == NULL) {
      int e = errno;
      close(fd);
      lua_pushfstring(L, "http: cannot write %s: %s", r->output_file, strerror(e));
      return push_fail(L, lua_tostring(L, -1), "file");
    }
    if (r->maxb < 0) x->max = -1; /* files are unbounded unless asked */
  }
  return 0;
}

#define SETOPT(opt, val)                                             \
  do {                                                               \
    if ((rc = curl_easy_setopt(c, opt, val)) != CURLE_OK) return rc; \
  } while (0)

/* Sets every option of one transfer on a fresh (or reset) easy handle; the
 * handle then points into x until it is reset or cleaned up. */
static CURLcode setup_easy(CURL *c, Xfer *x, const Req *r) {
  static const char *const ca_file_vars[] = {"AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
                                             NULL};
  static const char *const ca_dir_vars[] = {"SSL_CERT_DIR", NULL};
  CURLcode rc;
  const char *ca;
  SETOPT(CURLOPT_URL, r->url);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_ERRORBUFFER, x->err);
  SETOPT(CURLOPT_HTTPHEADER, x->hdrs);
  SETOPT(CURLOPT_WRITEFUNCTION, on_write);
  SETOPT(CURLOPT_WRITEDATA, (void *)x);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_HEADERDATA, (void *)x);
  x->signals = lakehost_interrupts;
  SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
  SETOPT(CURLOPT_XFERINFODATA, (void *)x);
  SETOPT(CURLOPT_NOPROGRESS, 0L);
  SETOPT(CURLOPT_TIMEOUT_MS, r->timeout_ms);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
  if (r->low_speed_time >= 0 || r->low_speed_limit >= 0) {
    SETOPT(CURLOPT_LOW_SPEED_TIME, r->low_speed_time >= 0 ? r->low_speed_time : 30L);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, r->low_speed_limit >= 0 ? r->low_speed_limit : 1L);
  }
  if (r->follow) {
    SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(CURLOPT_MAXREDIRS, MAX_REDIRS);
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  /* Refuses early when Content-Length announces too much; on_write enforces
   * the limit for bodies of unknown length. */
  if (x->max >= 0 && r->output_file == NULL) SETOPT(CURLOPT_MAXFILESIZE_LARGE, x->max);
  if (r->is_head)
    SETOPT(CURLOPT_NOBODY, 1L);
  else if (r->has_body || strcmp(r->method, "GET") != 0)
    SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
  if (r->has_body) { /* an upload of known size, whatever the method */
    SETOPT(CURLOPT_UPLOAD, 1L);
    SETOPT(CURLOPT_READFUNCTION, on_read);
    SETOPT(CURLOPT_READDATA, (void *)x);
    SETOPT(CURLOPT_SEEKFUNCTION, on_seek);
    SETOPT(CURLOPT_SEEKDATA, (void *)x);
    SETOPT(CURLOPT_INFILESIZE_LARGE, r->upload_size);
  }
  if ((ca = first_env(ca_file_vars)) != NULL) SETOPT(CURLOPT_CAINFO, ca);
  if ((ca = first_env(ca_dir_vars)) != NULL) SETOPT(CURLOPT_CAPATH, ca);
  x->err[0] = '\0';
  return CURLE_OK;
}

#undef SETOPT

/* What a finished transfer tells about itself (read before the handle is
 * reset); a getinfo that fails leaves its field at zero. */
static void get_info(CURL *c, const Req *r, Info *in) {
  const char *eff = NULL;
  memset(in, 0, sizeof *in);
  if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &in->status) != CURLE_OK) in->status = 0;
  if (curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &in->version) != CURLE_OK) in->version = 0;
  if (curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &in->total) != CURLE_OK) in->total = 0.0;
  if (curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &in->up) != CURLE_OK) in->up = 0;
  if (curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &in->down) != CURLE_OK) in->down = 0;
  if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK) eff = NULL;
  describe_host(eff != NULL ? eff : r->url, in->where, sizeof in->where);
}

/* Pushes what http.request returns for a finished transfer (resp, or nil,
 * msg, kind) and releases x; returns the number of values pushed. The easy
 * handle must no longer point into x. */
static int push_outcome(lua_State *L, Xfer *x, CURLcode rc, const Info *in, const Req *r) {
  int to_file;
  if (rc != CURLE_OK) {
    int n = push_transfer_fail(L, x, rc, in->where, r);
    xfer_release(x); /* removes the partial output file now */
    return n;
  }
  to_file =
      x->decided ? x->to_file : (r->output_file != NULL && in->status >= 200 && in->status < 300);
  if (to_file && commit_output(x, r->output_file) != 0) {
    lua_pushfstring(L, "http: cannot write %s: %s", r->output_file, strerror(errno));
    xfer_release(x);
    return push_fail(L, lua_tostring(L, -1), "file");
  }
  if (x->out != NULL) { /* not a 2xx: the body was kept in memory */
    fclose(x->out);
    x->out = NULL;
  }
  if (x->tmp != NULL) {
    unlink(x->tmp);
    free(x->tmp);
    x->tmp = NULL;
  }
  lua_createtable(L, 0, 7); /* [..., resp] */
  lua_pushinteger(L, (lua_Integer)in->status);
  lua_setfield(L, -2, "status");
  push_headers(L, &x->head);
  lua_setfield(L, -2, "headers");
  if (!to_file) {
    if (x->body.len > 0)
      lua_pushlstring(L, x->body.p, x->body.len);
    else
      lua_pushliteral(L, "");
    lua_setfield(L, -2, "body");
  }
  lua_pushstring(L, version_name(in->version));
  lua_setfield(L, -2, "http_version");
  lua_pushnumber(L, (lua_Number)in->total);
  lua_setfield(L, -2, "time");
  lua_pushinteger(L, (lua_Integer)in->up);
  lua_setfield(L, -2, "bytes_sent");
  lua_pushinteger(L, (lua_Integer)in->down);
  lua_setfield(L, -2, "bytes_received");
  xfer_release(x);
  return 1;
}

/* ---- module functions ----------------------------------------------- */

/* http.request(req) -> resp | nil, msg, kind */
static int http_request(lua_State *L) {
  Req r;
  Xfer *x;
  CURL *c;
  CURLcode rc;
  Info in;
  int n;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  x = (Xfer *)lua_newuserdatauv(L, sizeof *x, 0); /* [req, xfer] */
  memset(x, 0, sizeof *x);
  luaL_setmetatable(L, XFER_T);
  /* every field is read and checked; the strings stay on the stack */
  if (read_request(L, 1, "http.request", &r, x) != 0)
    return push_fail(L, "http: out of memory", "other");
  if ((n = open_files(L, x, &r)) != 0) return n;
  c = get_curl(L);
  if (c == NULL) return push_fail(L, "http: out of memory (curl_easy_init)", "other");

  /* From here to the curl_easy_reset after the transfer: no Lua call, so no
   * error can leave the handle pointing into x. */
  x->curl = c;
  curl_easy_reset(c);
  if ((rc = setup_easy(c, x, &r)) != CURLE_OK) {
    curl_easy_reset(c);
    x->curl = NULL;
    xfer_release(x);
    lua_pushfstring(L, "http: cannot set up the request: %s", curl_easy_strerror(rc));
    return push_fail(L, lua_tostring(L, -1), "other");
  }
  rc = curl_easy_perform(c);
  get_info(c, &r, &in);
  curl_easy_reset(c);
  x->curl = NULL;
  return push_outcome(L, x, rc, &in, &r);
}

/* ---- several requests at once (curl multi) -------------------------- */

/* Sets results[i] = { v1, ..., vn, n = n } from the nret values on top
 * (popped): what table.pack(http.request(reqs[i])) would hold. */
static void pack_result(lua_State *L, int results, lua_Integer i, int nret) {
  int k;
  lua_createtable(L, nret, 1);
  lua_insert(L, -(nret + 1)); /* [t, v1..vn] */
  for (k = nret; k >= 1; k--) lua_rawseti(L, -(k + 1), k);
  lua_pushinteger(L, nret);
  lua_setfield(L, -2, "n");
  lua_rawseti(L, results, i + 1);
}

/* Opens the files of item it, gives it an easy handle and adds that to the
 * multi. 0 when it runs; else the item is over and its failure (nil, msg,
 * kind) is pushed: returns 3. */
static int start_item(lua_State *L, Batch *b, Item *it) {
  CURLcode rc;
  CURLMcode mc;
  int n;
  it->state = ITEM_DONE; /* unless it starts below */
  if ((n = open_files(L, &it->x, &it->r)) != 0) {
    xfer_release(&it->x);
    return n;
  }
  it->easy = curl_easy_init();
  if (it->easy == NULL) {
    xfer_release(&it->x);
    return push_fail(L, "http: out of memory (curl_easy_init)", "other");
  }
  it->x.curl = it->easy;
  if ((rc = setup_easy(it->easy, &it->x, &it->r)) != CURLE_OK) {
    item_release(b, it);
    lua_pushfstring(L, "http: cannot set up the request: %s", curl_easy_strerror(rc));
    return push_fail(L, lua_tostring(L, -1), "other");
  }
  if ((mc = curl_multi_add_handle(b->multi, it->easy)) != CURLM_OK) {
    item_release(b, it);
    lua_pushfstring(L, "http: cannot start the request: %s", curl_multi_strerror(mc));
    return push_fail(L, lua_tostring(L, -1), "other");
  }
  it->state = ITEM_RUNNING;
  return 0;
}

/* Takes a finished transfer out of the multi and pushes its result as
 * http.request would; returns the number of values pushed. */
static int finish_item(lua_State *L, Batch *b, Item *it, CURLcode rc) {
  Info in;
  CURLMcode mc;
  get_info(it->easy, &it->r, &in);
  mc = curl_multi_remove_handle(b->multi, it->easy);
  it->state = ITEM_DONE;
  curl_easy_cleanup(it->easy);
  it->easy = NULL;
  it->x.curl = NULL;
  if (mc != CURLM_OK) {
    xfer_release(&it->x);
    lua_pushfstring(L, "http: %s", curl_multi_strerror(mc));
    return push_fail(L, lua_tostring(L, -1), "other");
  }
  return push_outcome(L, &it->x, rc, &in, &it->r);
}

/* http.request_all(reqs [, max_parallel]) -> results
 *   results[i] = table.pack(<what http.request(reqs[i]) returns>)
 * Stack: [reqs, max_parallel, batch (to-be-closed), anchors, results]. */
static int http_request_all(lua_State *L) {
  enum { REQS = 1, BATCH = 3, ANCHORS = 4, RESULTS = 5 };
  lua_Integer n, i, maxp, next = 0, running = 0, done = 0, anchored = 0;
  CURLMcode mc = CURLM_OK;
  Batch *b;

  luaL_checktype(L, REQS, LUA_TTABLE);
  maxp = luaL_optinteger(L, 2, DEFAULT_PARALLEL);
  luaL_argcheck(L, maxp >= 1 && maxp <= MAX_PARALLEL, 2, "must be between 1 and 64");
  lua_settop(L, 2);
  n = luaL_len(L, REQS);
  luaL_argcheck(L, n >= 0 && n <= MAX_BATCH, 1, "too many requests");
  b = (Batch *)lua_newuserdatauv(L, sizeof *b, 1);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, BATCH_T);
  lua_toclose(L, BATCH); /* frees every transfer however this function ends */
  lua_newtable(L);       /* anchors: the request tables and strings read from them */
  lua_pushvalue(L, ANCHORS);
  lua_setiuservalue(L, BATCH, 1);
  lua_createtable(L, (int)n, 0);
  if (n == 0) return 1;
  b->items = (Item *)calloc((size_t)n, sizeof *b->items);
  if (b->items == NULL) return push_fail(L, "http: out of memory", "other");
  b->n = n;

  /* Every request is read and checked first: misuse raises before anything
   * is sent. Files are opened only when a transfer starts. */
  for (i = 0; i < n; i++) {
    int base;
    const char *who;
    luaL_checkstack(L, 4, "http.request_all");
    if (lua_geti(L, REQS, i + 1) != LUA_TTABLE)
      return luaL_error(L, "http.request_all: reqs[%d] must be a table, got %s", (int)(i + 1),
                        luaL_typename(L, -1));
    base = lua_gettop(L);
    who = lua_pushfstring(L, "http.request_all: reqs[%d]", (int)(i + 1));
    if (read_request(L, base, who, &b->items[i].r, &b->items[i].x) != 0)
      return push_fail(L, "http: out of memory", "other");
    while (lua_gettop(L) >= base) lua_rawseti(L, ANCHORS, ++anchored);
  }

  b->multi = curl_multi_init();
  if (b->multi == NULL) return push_fail(L, "http: out of memory (curl_multi_init)", "other");

  /* No Lua call happens while curl runs: results are pushed between curl
   * calls, and a memory error there closes the batch (__close). */
  while (done < n) {
    int still = 0;
    CURLMsg *m;
    while (running < maxp && next < n) {
      int nret;
      luaL_checkstack(L, 8, "http.request_all");
      nret = start_item(L, b, &b->items[next]);
      if (nret > 0) {
        pack_result(L, RESULTS, next, nret);
        lua_settop(L, RESULTS); /* drops a message left under the values */
        done++;
      } else {
        running++;
      }
      next++;
    }
    if (running == 0) continue;
    if ((mc = curl_multi_perform(b->multi, &still)) != CURLM_OK) break;
    for (;;) {
      int left = 0;
      Item *it = NULL;
      m = curl_multi_info_read(b->multi, &left);
      if (m == NULL) break;
      if (m->msg != CURLMSG_DONE) continue;
      for (i = 0; i < n && it == NULL; i++)
        if (b->items[i].state == ITEM_RUNNING && b->items[i].easy == m->easy_handle)
          it = &b->items[i];
      if (it == NULL) continue; /* not ours: cannot happen with a multi of our own */
      i = it - b->items;
      luaL_checkstack(L, 12, "http.request_all");
      pack_result(L, RESULTS, i, finish_item(L, b, it, m->data.result));
      lua_settop(L, RESULTS);
      running--;
      done++;
    }
    if (running > 0 && (mc = curl_multi_poll(b->multi, NULL, 0, POLL_MS, NULL)) != CURLM_OK) break;
  }
  if (mc != CURLM_OK) { /* the multi handle failed: so did every transfer not over */
    for (i = 0; i < n; i++) {
      Item *it = &b->items[i];
      if (it->state == ITEM_DONE) continue;
      item_release(b, it);
      it->state = ITEM_DONE;
      lua_pushfstring(L, "http: %s", curl_multi_strerror(mc));
      pack_result(L, RESULTS, i, push_fail(L, lua_tostring(L, -1), "other"));
      lua_settop(L, RESULTS);
    }
  }
  lua_settop(L, RESULTS);
  return 1;
}

/* http.url_encode(s) -> string (RFC 3986: unreserved kept, the rest %XX) */
static void add_encoded(luaL_Buffer *b, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      luaL_addchar(b, (char)ch);
    } else {
      char *p = luaL_prepbuffsize(b, 3);
      p[0] = '%';
      p[1] = hex[ch >> 4];
      p[2] = hex[ch & 15];
      luaL_addsize(b, 3);
    }
  }
}

static int http_url_encode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_encoded(&b, s, len);
  luaL_pushresult(&b);
  return 1;
}

typedef struct {
  const char *s, *v;
  size_t len, vlen;
} Pair;

static int cmp_pair(const void *a, const void *b) {
  const Pair *x = (const Pair *)a, *y = (const Pair *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* http.form_encode(tbl) -> "a=1&b=2" (keys sorted bytewise, both sides url_encoded) */
static int http_form_encode(lua_State *L) {
  size_t n = 0, i;
  Pair *kv;
  luaL_Buffer b;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return luaL_error(L, "http.form_encode: keys must be strings, got %s", luaL_typename(L, -2));
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      return luaL_error(L, "http.form_encode: value of '%s' must be a string or number, got %s",
                        lua_tostring(L, -2), luaL_typename(L, -1));
    lua_pop(L, 1);
    n++;
  }
  kv = (Pair *)lua_newuserdatauv(L, (n ? n : 1) * sizeof *kv, 0); /* [tbl, kv] */
  lua_createtable(L, (int)n, 0); /* [tbl, kv, vals]: anchors converted values */
  i = 0;
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {                  /* [tbl, kv, vals, key, value] */
    kv[i].s = lua_tolstring(L, -2, &kv[i].len);  /* a string key: no conversion */
    kv[i].v = lua_tolstring(L, -1, &kv[i].vlen); /* converts the copy, not the table */
    lua_rawseti(L, 3, (lua_Integer)(i + 1));
    i++;
  }
  qsort(kv, n, sizeof *kv, cmp_pair);
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (i > 0) luaL_addchar(&b, '&');
    add_encoded(&b, kv[i].s, kv[i].len);
    luaL_addchar(&b, '=');
    add_encoded(&b, kv[i].v, kv[i].vlen);
  }
  luaL_pushresult(&b);
  return 1;
}

/* http.parse_url(url) -> {scheme, host, port, path, query} | nil, msg */
static int http_parse_url(lua_State *L) {
  static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT,
                                    CURLUPART_PATH, CURLUPART_QUERY};
  static const char *const names[] = {"scheme", "host", "port", "path", "query"};
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  Url *u = (Url *)lua_newuserdatauv(L, sizeof *u, 0);
  CURLUcode uc;
  int i;
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, URL_T);
  if (strlen(s) != len) {
    luaL_pushfail(L);
    lua_pushliteral(L, "http: cannot parse url: it contains a NUL byte");
    return 2;
  }
  u->u = curl_url();
  if (u->u == NULL) {
    luaL_pushfail(L);
    lua_pushliteral(L, "http: out of memory");
    return 2;
  }
  uc = curl_url_set(u->u, CURLUPART_URL, s, 0);
  for (i = 0; uc == CURLUE_OK && i < 5; i++) {
    uc = curl_url_get(u->u, parts[i], &u->part[i],
                      parts[i] == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0);
    if (uc == CURLUE_NO_QUERY || uc == CURLUE_NO_PORT) uc = CURLUE_OK; /* absent: "" / none */
  }
  if (uc != CURLUE_OK) {
    luaL_pushfail(L);
    lua_pushfstring(L, "http: cannot parse url: %s", curl_url_strerror(uc));
    return 2;
  }
  lua_createtable(L, 0, 5);
  for (i = 0; i < 5; i++) {
    if (parts[i] == CURLUPART_PORT) {
      if (u->part[i] == NULL) continue;
      lua_pushinteger(L, (lua_Integer)strtol(u->part[i], NULL, 10));
    } else {
      lua_pushstring(L, u->part[i] != NULL ? u->part[i] : "");
    }
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}

/* http.version() -> "libcurl/7.88.1 OpenSSL/..." */
static int http_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

/* ---- registration --------------------------------------------------- */

static const luaL_Reg http_funcs[] = {{"request", http_request},
                                      {"request_all", http_request_all},
                                      {"url_encode", http_url_encode},
                                      {"form_encode", http_form_encode},
                                      {"parse_url", http_parse_url},
                                      {"version", http_version},
                                      {NULL, NULL}};
static const luaL_Reg handle_metas[] = {{"__gc", handle_gc}, {NULL, NULL}};
static const luaL_Reg xfer_metas[] = {{"__gc", xfer_gc}, {"__close", xfer_gc}, {NULL, NULL}};
static const luaL_Reg url_metas[] = {{"__gc", url_gc}, {NULL, NULL}};
static const luaL_Reg batch_metas[] = {{"__gc", batch_gc}, {"__close", batch_gc}, {NULL, NULL}};

static int curl_ready; /* curl_global_init succeeded in this process */

int luaopen_host_http(lua_State *L) {
  if (!curl_ready) {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
      return luaL_error(L, "http: curl_global_init failed: %s", curl_easy_strerror(rc));
    curl_ready = 1;
  }
  luaL_newmetatable(L, HANDLE_T);
  luaL_setfuncs(L, handle_metas, 0);
  luaL_newmetatable(L, XFER_T);
  luaL_setfuncs(L, xfer_metas, 0);
  luaL_newmetatable(L, URL_T);
  luaL_setfuncs(L, url_metas, 0);
  luaL_newmetatable(L, BATCH_T);
  luaL_setfuncs(L, batch_metas, 0);
  lua_pop(L, 4);
  luaL_newlib(L, http_funcs);
  return 1;
}
