/*
 * host.watch -- changes under folders, through Linux inotify.
 *
 *   watch.new([opts]) -> w | nil, err, code    opts = { skip = {name, ...} }
 *     err = "watch: inotify: <strerror>", code = "ENOSYS", "EMFILE", ...
 *   w:add(dir [, recursive]) -> n | nil, err, code   watches dir and, unless
 *     recursive is false, every folder below it (n: how many folders are
 *     watched now); folders named in opts.skip and folders whose name starts
 *     with '.' are not entered.
 *   w:wait(timeout_ms) -> paths | nil, err, code
 *     blocks until something changed or timeout_ms passed, then returns the
 *     changed paths (dir .. "/" .. name), sorted and without duplicates:
 *     empty on a timeout. While proc.trap_interrupts is on, an interrupt
 *     (SIGINT, SIGTERM) ends the wait at once with what was seen so far.
 *   w:count() -> n    folders watched;   w:close()   (also __gc, __close)
 *
 * Events: IN_CLOSE_WRITE, IN_ATTRIB (touch), IN_CREATE, IN_DELETE,
 * IN_MOVED_FROM, IN_MOVED_TO, IN_DELETE_SELF. A folder that appears (made or
 * moved in) is watched at once, and the files already in it count as
 * changed, since they may have been written before its watch existed. A
 * folder moved away stops being watched under its old name. When the
 * kernel's queue overflowed (IN_Q_OVERFLOW), every folder given to add
 * counts as changed.
 *
 * The wait polls the descriptor in slices of at most 100 ms and looks at the
 * interrupt counter between them: a signal that lands just before poll() is
 * seen within a slice, one that lands during it wakes it (the trap's handler
 * has no SA_RESTART).
 *
 * Ownership: the descriptor, the folder table and the paths seen live in the
 * userdata, created before anything is acquired; the system calls run on
 * C-owned memory and results are pushed after them, so a Lua error (out of
 * memory) leaks nothing: __gc frees it all.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

#define WATCHER "lakehost.watch.watcher"

#define WATCH_MAX_DEPTH 128
#define WATCH_SLICE_MS 100
#define WATCH_MASK                                                                    \
  (IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
   IN_DELETE_SELF | IN_ONLYDIR)

/* A growable array of malloc'd strings. */
typedef struct {
  char **v;
  size_t n, cap;
} strvec;

/* A watched folder. */
typedef struct {
  int wd;
  int rec; /* folders that appear in it are watched too */
  char *path;
} wentry;

typedef struct {
  int fd; /* -1: closed */
  wentry *dirs;
  size_t ndirs, capdirs;
  strvec skip;    /* folder names not entered */
  strvec roots;   /* the folders given to add (for an overflow) */
  strvec pending; /* paths seen changed, not yet returned */
} LWatch;

/* ---------------------------------------------------------------- helpers */

static void sv_free(strvec *s) {
  size_t i;
  for (i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

/* Appends a copy of the n bytes at p (NUL added); 0, or -1 out of memory. */
static int sv_pushn(strvec *s, const char *p, size_t n) {
  char *copy;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **v = realloc(s->v, cap * sizeof *v);
    if (v == NULL) return -1;
    s->v = v;
    s->cap = cap;
  }
  copy = malloc(n + 1);
  if (copy == NULL) return -1;
  memcpy(copy, p, n);
  copy[n] = '\0';
  s->v[s->n++] = copy;
  return 0;
}

static int sv_push(strvec *s, const char *p) { return sv_pushn(s, p, strlen(p)); }

/* dir "/" name, malloc'd; NULL out of memory. */
static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p == NULL) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static int skipped(const LWatch *w, const char *name) {
  size_t i;
  if (name[0] == '.') return 1;
  for (i = 0; i < w->skip.n; i++)
    if (strcmp(w->skip.v[i], name) == 0) return 1;
  return 0;
}

static wentry *find_wd(LWatch *w, int wd) {
  size_t i;
  for (i = 0; i < w->ndirs; i++)
    if (w->dirs[i].wd == wd) return &w->dirs[i];
  return NULL;
}

static void drop_entry(LWatch *w, size_t i) {
  free(w->dirs[i].path);
  w->dirs[i] = w->dirs[w->ndirs - 1];
  w->ndirs--;
}

/* Records that path is watched as wd (a folder watched twice keeps one
 * entry, under its latest name); 0, or -1 out of memory. */
static int remember(LWatch *w, int wd, const char *path, int rec) {
  wentry *e = find_wd(w, wd);
  char *copy = malloc(strlen(path) + 1);
  if (copy == NULL) return -1;
  strcpy(copy, path);
  if (e != NULL) {
    free(e->path);
    e->path = copy;
    e->rec = e->rec || rec;
    return 0;
  }
  if (w->ndirs == w->capdirs) {
    size_t cap = w->capdirs ? w->capdirs * 2 : 16;
    wentry *d = realloc(w->dirs, cap * sizeof *d);
    if (d == NULL) {
      free(copy);
      return -1;
    }
    w->dirs = d;
    w->capdirs = cap;
  }
  w->dirs[w->ndirs].wd = wd;
  w->dirs[w->ndirs].path = copy;
  w->dirs[w->ndirs].rec = rec;
  w->ndirs++;
  return 0;
}

/* Watches dir and (rec) the folders below it; with found, the files met
 * are added to it. 0, or an errno value. A folder that vanished meanwhile is
 * no error (it will have been reported as deleted). */
static int add_tree(LWatch *w, const char *dir, int depth, strvec *found, int rec) {
  DIR *d;
  struct dirent *de;
  int wd, e = 0;
  if (depth > WATCH_MAX_DEPTH) return ELOOP;
  wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
  if (wd < 0) return (errno == ENOENT || errno == ENOTDIR) && depth > 0 ? 0 : errno;
  if (remember(w, wd, dir, rec) != 0) return ENOMEM;
  if (!rec) return 0;
  d = opendir(dir);
  if (d == NULL) return (errno == ENOENT || errno == ENOTDIR) && depth > 0 ? 0 : errno;
  for (;;) {
    struct stat st;
    char *path;
    errno = 0;
    de = readdir(d);
    if (de == NULL) {
      if (errno != 0) e = errno;
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    path = join(dir, de->d_name);
    if (path == NULL) {
      e = ENOMEM;
      break;
    }
    if (lstat(path, &st) != 0) { /* gone since readdir: its deletion is an event */
      free(path);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (!skipped(w, de->d_name)) e = add_tree(w, path, depth + 1, found, 1);
    } else if (found != NULL && sv_push(found, path) != 0) {
      e = ENOMEM;
    }
    free(path);
    if (e != 0) break;
  }
  if (closedir(d) != 0 && e == 0) e = errno;
  return e;
}

/* Stops watching path and the folders below it (moved away). */
static void forget_tree(LWatch *w, const char *path) {
  size_t i = 0, n = strlen(path);
  while (i < w->ndirs) {
    const char *p = w->dirs[i].path;
    if (strncmp(p, path, n) == 0 && (p[n] == '\0' || p[n] == '/')) {
      /* the kernel may have dropped it already (EINVAL): nothing to undo */
      (void)inotify_rm_watch(w->fd, w->dirs[i].wd);
      drop_entry(w, i);
    } else {
      i++;
    }
  }
}

/* Handles one event; 0, or an errno value. */
static int on_event(LWatch *w, const struct inotify_event *ev) {
  wentry *e;
  char *path;
  int rc = 0;
  size_t i;
  if (ev->mask & IN_Q_OVERFLOW) {
    for (i = 0; i < w->roots.n; i++)
      if (sv_push(&w->pending, w->roots.v[i]) != 0) return ENOMEM;
    return 0;
  }
  e = find_wd(w, ev->wd);
  if (e == NULL) return 0;
  if (ev->mask & IN_IGNORED) { /* removed: deleted, or its file system unmounted */
    drop_entry(w, (size_t)(e - w->dirs));
    return 0;
  }
  if (ev->len == 0 || ev->name[0] == '\0') return sv_push(&w->pending, e->path) != 0 ? ENOMEM : 0;
  path = join(e->path, ev->name);
  if (path == NULL) return ENOMEM;
  if (sv_push(&w->pending, path) != 0) {
    rc = ENOMEM;
  } else if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
    if (e->rec && !skipped(w, ev->name)) rc = add_tree(w, path, 1, &w->pending, 1);
  } else if ((ev->mask & IN_ISDIR) && (ev->mask & IN_MOVED_FROM)) {
    forget_tree(w, path);
  }
  free(path);
  return rc;
}

/* Reads every event queued; 0, or an errno value. */
static int drain(LWatch *w) {
  _Alignas(struct inotify_event) char buf[8192]; /* aligned for the events, as inotify(7) says */
  for (;;) {
    ssize_t n = read(w->fd, buf, sizeof buf);
    char *p;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    if (n == 0) return 0;
    for (p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
      int rc = on_event(w, ev);
      if (rc != 0) return rc;
      p += sizeof(struct inotify_event) + ev->len;
    }
  }
}

static double now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0; /* cannot fail on Linux */
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts pending and drops its duplicates. */
static void sort_unique(strvec *s) {
  size_t i, k = 0;
  if (s->n == 0) return;
  qsort(s->v, s->n, sizeof *s->v, cmp_str);
  for (i = 1; i < s->n; i++) {
    if (strcmp(s->v[i], s->v[k]) == 0) {
      free(s->v[i]);
    } else {
      s->v[++k] = s->v[i];
    }
  }
  s->n = k + 1;
}

/* nil, "watch: <what>: <strerror(e)>", "E<n>" or the errno's name */
static int push_error(lua_State *L, const char *what, int e) {
  const char *code;
  switch (e) {
    case ENOSYS:
      code = "ENOSYS";
      break;
    case ENOENT:
      code = "ENOENT";
      break;
    case ENOTDIR:
      code = "ENOTDIR";
      break;
    case EACCES:
      code = "EACCES";
      break;
    case ENOSPC:
      code = "ENOSPC";
      break;
    case EMFILE:
      code = "EMFILE";
      break;
    case ENFILE:
      code = "ENFILE";
      break;
    case ENOMEM:
      code = "ENOMEM";
      break;
    case ELOOP:
      code = "ELOOP";
      break;
    default:
      code = NULL;
  }
  luaL_pushfail(L);
  lua_pushfstring(L, "watch: %s: %s", what, strerror(e));
  if (code != NULL) {
    lua_pushstring(L, code);
  } else {
    lua_pushfstring(L, "E%d", e);
  }
  return 3;
}

static LWatch *checkwatch(lua_State *L) {
  LWatch *w = (LWatch *)luaL_checkudata(L, 1, WATCHER);
  if (w->fd < 0) luaL_error(L, "attempt to use a closed watcher");
  return w;
}

/* ------------------------------------------------------------- lifecycle */

static void release(LWatch *w) {
  size_t i;
  if (w->fd >= 0) {
    (void)close(w->fd); /* the descriptor is gone whatever close says */
    w->fd = -1;
  }
  for (i = 0; i < w->ndirs; i++) free(w->dirs[i].path);
  free(w->dirs);
  w->dirs = NULL;
  w->ndirs = w->capdirs = 0;
  sv_free(&w->skip);
  sv_free(&w->roots);
  sv_free(&w->pending);
}

static int watcher_gc(lua_State *L) {
  release((LWatch *)luaL_checkudata(L, 1, WATCHER));
  return 0;
}

/* ------------------------------------------------------ module functions */

/* watch.new([opts]) -> w | nil, err, code */
static int watch_new(lua_State *L) {
  LWatch *w;
  int fd;
  lua_Integer i, n = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "skip");
    if (!lua_isnil(L, -1)) {
      luaL_argcheck(L, lua_istable(L, -1), 1, "opts.skip must be a list of folder names");
      n = luaL_len(L, -1);
      for (i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, -1, i);
        luaL_argcheck(L, t == LUA_TSTRING, 1, "opts.skip must be a list of folder names");
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  w = (LWatch *)lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  w->fd = -1;
  luaL_setmetatable(L, WATCHER);
  if (n > 0) {
    lua_getfield(L, 1, "skip");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      if (sv_push(&w->skip, lua_tostring(L, -1)) != 0) return luaL_error(L, "not enough memory");
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return push_error(L, "inotify", errno);
  w->fd = fd;
  return 1;
}

/* w:add(dir [, recursive]) -> n | nil, err, code */
static int watcher_add(lua_State *L) {
  LWatch *w = checkwatch(L);
  const char *dir = luaL_checkstring(L, 2);
  int rec = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  size_t len = strlen(dir);
  int e;
  luaL_argcheck(L, len > 0, 2, "must be a folder's path");
  while (len > 1 && dir[len - 1] == '/') len--; /* "a/" and "a" name the same paths */
  if (sv_pushn(&w->roots, dir, len) != 0) return luaL_error(L, "not enough memory");
  e = add_tree(w, w->roots.v[w->roots.n - 1], 0, NULL, rec);
  if (e != 0) return push_error(L, dir, e);
  lua_pushinteger(L, (lua_Integer)w->ndirs);
  return 1;
}

/* w:wait(timeout_ms) -> paths | nil, err, code */
static int watcher_wait(lua_State *L) {
  LWatch *w = checkwatch(L);
  lua_Number timeout = luaL_checknumber(L, 2);
  double deadline;
  size_t i;
  luaL_argcheck(L, timeout >= 0 && timeout < 1e12, 2, "must be a number of milliseconds >= 0");
  deadline = now_ms() + (double)timeout;
  for (;;) {
    struct pollfd pfd;
    double left;
    int e = drain(w), rc;
    if (e != 0) return push_error(L, "inotify", e);
    if (w->pending.n > 0 || lakehost_interrupts > 0) break;
    left = deadline - now_ms();
    if (left <= 0) break;
    pfd.fd = w->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, left < WATCH_SLICE_MS ? (int)left + 1 : WATCH_SLICE_MS);
    if (rc < 0 && errno != EINTR) return push_error(L, "poll", errno);
  }
  sort_unique(&w->pending);
  lua_createtable(L, (int)w->pending.n, 0);
  for (i = 0; i < w->pending.n; i++) {
    lua_pushstring(L, w->pending.v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  sv_free(&w->pending); /* after the pushes: an error there keeps them for __gc */
  return 1;
}

/* w:count() -> n */
static int watcher_count(lua_State *L) {
  LWatch *w = checkwatch(L);
  lua_pushinteger(L, (lua_Integer)w->ndirs);
  return 1;
}

/* w:close() */
static int watcher_close(lua_State *L) {
  release((LWatch *)luaL_checkudata(L, 1, WATCHER));
  return 0;
}

static int watcher_tostring(lua_State *L) {
  LWatch *w = (LWatch *)luaL_checkudata(L, 1, WATCHER);
  if (w->fd < 0) {
    lua_pushliteral(L, "watcher (closed)");
  } else {
    lua_pushfstring(L, "watcher (%d folders)", (int)w->ndirs);
  }
  return 1;
}

/* ------------------------------------------------------------- registry */

static const luaL_Reg watch_funcs[] = {{"new", watch_new}, {NULL, NULL}};

static const luaL_Reg watcher_meths[] = {{"add", watcher_add},
                                         {"wait", watcher_wait},
                                         {"count", watcher_count},
                                         {"close", watcher_close},
                                         {NULL, NULL}};

static const luaL_Reg watcher_metas[] = {{"__index", NULL},
                                         {"__gc", watcher_gc},
                                         {"__close", watcher_gc},
                                         {"__tostring", watcher_tostring},
                                         {NULL, NULL}};

int luaopen_host_watch(lua_State *L) {
  luaL_newmetatable(L, WATCHER);
  luaL_setfuncs(L, watcher_metas, 0);
  luaL_newlibtable(L, watcher_meths);
  luaL_setfuncs(L, watcher_meths, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, watch_funcs);
  return 1;
}
