/*
 * host.fs -- the file system as a deploy tool needs it (POSIX only).
 *
 * Failures of the outside world return nil, "fs: <path>: <strerror>", "<ENAME>"
 * (the errno's symbolic name). Misuse (wrong types, unknown options, an
 * empty or "/" remove_tree) raises.
 *
 * Modes: Lua has no octal literals (0644 is the decimal 644), so modes are
 * accepted as integers up to 0777 (tonumber("644", 8)) or as octal strings
 * ("644", "0755", "4755"); anything else raises instead of silently giving
 * a strange mode.
 *
 * Determinism: list, walk and glob sort their results in byte order (strcmp),
 * never by locale. Recursion (walk, remove_tree) is bounded to FS_MAX_DEPTH
 * levels and reports "nesting too deep" as an error value.
 *
 * Every function does its system calls with C-owned memory only and pushes
 * its results to Lua after the last of them, so no Lua error can leak a file
 * descriptor or a buffer. fs.read, which builds its result in a luaL_Buffer,
 * holds its descriptor in a userdata created first.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "host.h"

#define FS_LOCK "lakehost.fs.lock"
#define FS_FD "lakehost.fs.fd"       /* internal: owns a descriptor during fs.read */
#define FS_SV "lakehost.fs.strings"  /* internal: owns a string list being built */
#define FS_WALK "lakehost.fs.walker" /* internal: owns a walk's state */

#define FS_MAX_DEPTH 512
#define FS_CHUNK (128 * 1024)

/* A held flock; fd == -1 once released. */
typedef struct {
  int fd;
} LLock;

/* A descriptor owned by Lua while a result is being built. */
typedef struct {
  int fd;
} LFd;

/* A growable array of malloc'd strings. */
typedef struct {
  char **v;
  size_t n, cap;
} strvec;

/* Walk state: the output, the current relative path and its ancestors. */
typedef struct {
  strvec out;
  const char *root;
  char *rel; /* current relative path, NUL-terminated */
  size_t rellen, relcap;
  int dirs, follow;
  /* with follow only (malloc'd, FS_MAX_DEPTH + 1 entries): the identities of
   * the folders above, to stop at a link back to one of them. Not part of
   * the userdata itself: walks are many and mostly shallow, and a worker
   * keeps every userdata it made until it exits. */
  struct ancestor {
    dev_t dev;
    ino_t ino;
  } * anc;
  int err;        /* errno of the failure, 0 if none */
  int too_deep;   /* nesting limit hit */
  char *errpath;  /* malloc'd path of the failure */
  EVP_MD_CTX *md; /* with sha256 only: each file's entry in out is then
                   * "path\0<64 hex digits><size in decimal>" */
} walker;

/* ---------------------------------------------------------------- helpers */

/* Symbolic name of an errno value ("ENOENT"); "E<n>" for the rare rest. */
static const char *errno_name(int e, char *buf, size_t bufsz) {
  static const struct {
    int e;
    const char *name;
  } names[] = {
      {EPERM, "EPERM"},
      {ENOENT, "ENOENT"},
      {ESRCH, "ESRCH"},
      {EINTR, "EINTR"},
      {EIO, "EIO"},
      {ENXIO, "ENXIO"},
      {E2BIG, "E2BIG"},
      {ENOEXEC, "ENOEXEC"},
      {EBADF, "EBADF"},
      {ECHILD, "ECHILD"},
      {EAGAIN, "EAGAIN"},
      {ENOMEM, "ENOMEM"},
      {EACCES, "EACCES"},
      {EFAULT, "EFAULT"},
      {EBUSY, "EBUSY"},
      {EEXIST, "EEXIST"},
      {EXDEV, "EXDEV"},
      {ENODEV, "ENODEV"},
      {ENOTDIR, "ENOTDIR"},
      {EISDIR, "EISDIR"},
      {EINVAL, "EINVAL"},
      {ENFILE, "ENFILE"},
      {EMFILE, "EMFILE"},
      {ENOTTY, "ENOTTY"},
      {ETXTBSY, "ETXTBSY"},
      {EFBIG, "EFBIG"},
      {ENOSPC, "ENOSPC"},
      {ESPIPE, "ESPIPE"},
      {EROFS, "EROFS"},
      {EMLINK, "EMLINK"},
      {EPIPE, "EPIPE"},
      {EDOM, "EDOM"},
      {ERANGE, "ERANGE"},
      {EDEADLK, "EDEADLK"},
      {ENAMETOOLONG, "ENAMETOOLONG"},
      {ENOLCK, "ENOLCK"},
      {ENOSYS, "ENOSYS"},
      {ENOTEMPTY, "ENOTEMPTY"},
      {ELOOP, "ELOOP"},
      {EOVERFLOW, "EOVERFLOW"},
      {EDQUOT, "EDQUOT"},
      {ESTALE, "ESTALE"},
      {ENOTSUP, "ENOTSUP"},
      {ETIMEDOUT, "ETIMEDOUT"},
      {EILSEQ, "EILSEQ"},
  };
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].e == e) return names[i].name;
  snprintf(buf, bufsz, "E%d", e);
  return buf;
}

/* A path argument: a string without NUL bytes (the system would cut it). */
static const char *check_path(lua_State *L, int arg) {
  size_t len;
  const char *p = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, strlen(p) == len, arg, "path contains a NUL byte");
  return p;
}

/* Pushes nil, "fs: <path>: <strerror(e)>", "<ENAME>"; returns 3. */
static int push_errno(lua_State *L, const char *path, int e) {
  char buf[32];
  luaL_pushfail(L);
  lua_pushfstring(L, "fs: %s: %s", path, strerror(e));
  lua_pushstring(L, errno_name(e, buf, sizeof buf));
  return 3;
}

/* Pushes true, or the error triple for the current errno; returns the
 * count. (errno is read here, after the call in the argument returned.) */
static int push_result(lua_State *L, int rc, const char *path) {
  int e = errno;
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return push_errno(L, path, e);
}

/* push_result for a call on two paths (rename, link): an error names both. */
static int push_result2(lua_State *L, int rc, const char *from, const char *to) {
  char buf[32];
  int e = errno;
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_pushfstring(L, "fs: %s -> %s: %s", from, to, strerror(e));
  lua_pushstring(L, errno_name(e, buf, sizeof buf));
  return 3;
}

/* Raises unless the table at idx (if any) only has keys from allowed. */
static void check_opts(lua_State *L, int idx, const char *const allowed[]) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) { /* [key, value] */
    const char *const *a;
    int ok = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      for (a = allowed; *a != NULL; a++)
        if (strcmp(*a, k) == 0) ok = 1;
    }
    if (!ok) {
      lua_pop(L, 1);
      lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL));
      luaL_argerror(L, idx, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
}

/* A permission mode from an integer (<= 0777) or an octal string. */
static mode_t to_mode(lua_State *L, int idx, int arg) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    char *end;
    unsigned long m;
    if (*s != '\0' && strspn(s, "01234567") == strlen(s) && strlen(s) <= 5) {
      m = strtoul(s, &end, 8);
      if (*end == '\0' && m <= 07777) return (mode_t)m;
    }
    luaL_argerror(L, arg, lua_pushfstring(L, "invalid mode '%s' (octal digits, at most 7777)", s));
  } else if (lua_isinteger(L, idx)) {
    lua_Integer m = lua_tointeger(L, idx);
    if (m >= 0 && m <= 0777) return (mode_t)m;
    luaL_argerror(L, arg,
                  lua_pushfstring(L,
                                  "invalid mode %I (Lua has no octal literals: "
                                  "write \"%I\" or tonumber(\"%I\", 8))",
                                  m, m, m));
  } else {
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "mode must be an integer or an octal string, got %s",
                                  luaL_typename(L, idx)));
  }
  return 0;
}

/* opts.<key> as a mode, or dflt when absent; *given says whether it was. */
static mode_t opt_mode(lua_State *L, int idx, int arg, mode_t dflt, int *given) {
  mode_t m = dflt;
  if (given) *given = 0;
  if (lua_isnoneornil(L, idx)) return m;
  if (lua_getfield(L, idx, "mode") != LUA_TNIL) {
    m = to_mode(L, -1, arg);
    if (given) *given = 1;
  }
  lua_pop(L, 1);
  return m;
}

/* opts.<key> as a boolean, or dflt when absent. */
static int opt_bool(lua_State *L, int idx, int arg, const char *key, int dflt) {
  int v = dflt, t;
  if (lua_isnoneornil(L, idx)) return v;
  t = lua_getfield(L, idx, key);
  if (t == LUA_TBOOLEAN) {
    v = lua_toboolean(L, -1);
  } else if (t != LUA_TNIL) {
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a boolean", key));
  }
  lua_pop(L, 1);
  return v;
}

static int sv_push(strvec *sv, char *s) {
  if (s == NULL) return -1;
  if (sv->n == sv->cap) {
    size_t cap = sv->cap ? sv->cap * 2 : 16;
    char **v = realloc(sv->v, cap * sizeof *v);
    if (v == NULL) {
      free(s);
      return -1;
    }
    sv->v = v;
    sv->cap = cap;
  }
  sv->v[sv->n++] = s;
  return 0;
}

static void sv_free(strvec *sv) {
  size_t i;
  for (i = 0; i < sv->n; i++) free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = sv->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A strvec owned by Lua (freed by __gc), created before it is filled so that
 * no Lua error can leak its strings. */
static strvec *new_svbox(lua_State *L) {
  strvec *sv = (strvec *)lua_newuserdatauv(L, sizeof *sv, 0);
  memset(sv, 0, sizeof *sv);
  luaL_setmetatable(L, FS_SV);
  return sv;
}

/* Sorts sv in byte order, pushes it as a new array and empties sv. */
static int sv_push_sorted(lua_State *L, strvec *sv) {
  size_t i;
  if (sv->n > 1) qsort(sv->v, sv->n, sizeof *sv->v, cmp_str);
  lua_createtable(L, (int)sv->n, 0);
  for (i = 0; i < sv->n; i++) {
    lua_pushstring(L, sv->v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  sv_free(sv);
  return 1;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* malloc'd "a/b" (or "b" when a is empty). */
static char *path_join2(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = malloc(la + lb + 2);
  if (p == NULL) return NULL;
  if (la == 0) {
    memcpy(p, b, lb + 1);
  } else {
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
  }
  return p;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int close_keep_errno(int fd) {
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* Creates <dir>/.<base>.tmp-<pid>-<n> (O_EXCL, 0600); path in *tmp. */
static int open_temp(const char *path, char **tmp) {
  static unsigned long counter;
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  const char *base = slash ? slash + 1 : path;
  size_t cap = dirlen + strlen(base) + 64;
  int attempt;
  *tmp = malloc(cap);
  if (*tmp == NULL) {
    errno = ENOMEM;
    return -1;
  }
  for (attempt = 0; attempt < 100; attempt++) {
    int fd;
    snprintf(*tmp, cap, "%.*s.%s.tmp-%ld-%lu", (int)dirlen, path, base, (long)getpid(), counter++);
    fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno != EEXIST) break;
  }
  {
    int e = errno;
    free(*tmp);
    *tmp = NULL;
    errno = e;
  }
  return -1;
}

/* fchmod, fsync (unless sync is 0), close and rename a temp file over path;
 * unlinks it on any failure. Skipping fsync keeps the rename atomic for
 * readers but not across a power cut: fine for regenerable output. */
static int commit_temp(int fd, char *tmp, const char *path, mode_t mode, int sync) {
  int e;
  if (fchmod(fd, mode) != 0 || (sync && fsync(fd) != 0)) {
    e = errno;
    close(fd);
    goto fail;
  }
  if (close(fd) != 0) {
    e = errno;
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    e = errno;
    goto fail;
  }
  free(tmp);
  return 0;
fail:
  unlink(tmp);
  free(tmp);
  errno = e;
  return -1;
}

/* Discards a temp file after a failed write. */
static void abort_temp(int fd, char *tmp) {
  int e = errno;
  close(fd);
  unlink(tmp);
  free(tmp);
  errno = e;
}

/* ------------------------------------------------------------- userdata */

static LLock *check_lock(lua_State *L) { return (LLock *)luaL_checkudata(L, 1, FS_LOCK); }

/* __gc / __close: releases the lock if still held (idempotent). */
static int lock_gc(lua_State *L) {
  LLock *lk = check_lock(L);
  if (lk->fd >= 0) {
    flock(lk->fd, LOCK_UN);
    close(lk->fd);
    lk->fd = -1;
  }
  return 0;
}

/* lock:unlock() -> true (raises if already released) */
static int lock_unlock(lua_State *L) {
  LLock *lk = check_lock(L);
  if (lk->fd < 0) return luaL_error(L, "fs: lock already released");
  lock_gc(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int lock_tostring(lua_State *L) {
  LLock *lk = check_lock(L);
  lua_pushfstring(L, FS_LOCK " (%s)", lk->fd >= 0 ? "held" : "released");
  return 1;
}

static int sv_gc(lua_State *L) {
  sv_free((strvec *)luaL_checkudata(L, 1, FS_SV));
  return 0;
}

static int walker_gc(lua_State *L) {
  walker *w = (walker *)luaL_checkudata(L, 1, FS_WALK);
  sv_free(&w->out);
  free(w->rel);
  free(w->errpath);
  free(w->anc);
  EVP_MD_CTX_free(w->md);
  w->rel = w->errpath = NULL;
  w->anc = NULL;
  w->md = NULL;
  return 0;
}

static void fd_gc_raw(LFd *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

static int fd_gc(lua_State *L) {
  fd_gc_raw((LFd *)luaL_checkudata(L, 1, FS_FD));
  return 0;
}

/* ----------------------------------------------------------- functions */

/* fs.read(path) -> string | nil, err, code */
static int fs_read(lua_State *L) {
  const char *path = check_path(L, 1);
  LFd *f = (LFd *)lua_newuserdatauv(L, sizeof *f, 0);
  luaL_Buffer b;
  struct stat st;
  size_t room;
  f->fd = -1;
  luaL_setmetatable(L, FS_FD);
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) return push_errno(L, path, errno);
  if (fstat(f->fd, &st) != 0 || (S_ISDIR(st.st_mode) && (errno = EISDIR))) {
    int e = errno;
    fd_gc_raw(f);
    return push_errno(L, path, e);
  }
  /* A regular file gets a buffer of its size and one byte more, where the
   * read that finds its end lands: most files are read without the buffer
   * ever growing. One that grew since fstat, or has no size, is read on in
   * chunks. `room`: bytes known free in the buffer. */
  room = S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX
             ? (size_t)st.st_size + 1
             : 4096;
  luaL_buffinitsize(L, &b, room);
  for (;;) {
    size_t ask = room > 0 ? room : FS_CHUNK;
    char *p = luaL_prepbuffsize(&b, ask);
    ssize_t n = read(f->fd, p, ask);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      fd_gc_raw(f);
      return push_errno(L, path, e);
    }
    if (n == 0) break;
    luaL_addsize(&b, (size_t)n);
    room = ask - (size_t)n;
  }
  fd_gc_raw(f);
  luaL_pushresult(&b);
  return 1;
}

/* fs.write(path, data [, {mode=, atomic=, sync=}]) -> true | nil, err, code */
static int fs_write(lua_State *L) {
  static const char *const opts[] = {"mode", "atomic", "sync", NULL};
  size_t len;
  const char *path = check_path(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  int given, atomic, fd;
  mode_t mode;
  check_opts(L, 3, opts);
  mode = opt_mode(L, 3, 3, 0644, &given);
  atomic = opt_bool(L, 3, 3, "atomic", 1);
  if (atomic) {
    char *tmp;
    fd = open_temp(path, &tmp);
    if (fd < 0) return push_errno(L, path, errno);
    if (write_all(fd, data, len) != 0) {
      abort_temp(fd, tmp);
      return push_errno(L, path, errno);
    }
    return push_result(L, commit_temp(fd, tmp, path, mode, opt_bool(L, 3, 3, "sync", 1)), path);
  }
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return push_errno(L, path, errno);
  if ((given && fchmod(fd, mode) != 0) || write_all(fd, data, len) != 0) {
    close_keep_errno(fd);
    return push_errno(L, path, errno);
  }
  return push_result(L, close(fd), path);
}

static const char *type_name(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "link";
  return "other";
}

/* fs.stat(path [, {follow = true}]) -> {type=, size=, mode=, mtime=, mtime_ns=} | nil, err, code */
static int fs_stat(lua_State *L) {
  static const char *const opts[] = {"follow", NULL};
  const char *path = check_path(L, 1);
  struct stat st;
  int rc;
  check_opts(L, 2, opts);
  rc = opt_bool(L, 2, 2, "follow", 1) ? stat(path, &st) : lstat(path, &st);
  if (rc != 0) return push_errno(L, path, errno);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, type_name(st.st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec);
  lua_setfield(L, -2, "mtime");
  /* mtime_ns: the whole time in nanoseconds, as Python's st_mtime_ns. */
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
  lua_setfield(L, -2, "mtime_ns");
  return 1;
}

/* fs.exists(path) -> boolean (follows symlinks: a dangling link is false) */
static int fs_exists(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(check_path(L, 1), &st) == 0);
  return 1;
}

/* fs.isdir(path) -> boolean */
static int fs_isdir(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(check_path(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
  return 1;
}

/* fs.isfile(path) -> boolean (a regular file) */
static int fs_isfile(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(check_path(L, 1), &st) == 0 && S_ISREG(st.st_mode));
  return 1;
}

/* mkdir -p on a writable copy of the path; errno set on failure. */
static int mkdir_p(char *p, mode_t mode) {
  size_t len = strlen(p), i;
  struct stat st;
  while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
  for (i = 1; i <= len; i++) {
    if (i < len && p[i] != '/') continue;
    if (i < len && p[i - 1] == '/') continue; /* "a//b" */
    p[i] = '\0';
    if (mkdir(p, mode) != 0) {
      int e = errno;
      if (stat(p, &st) != 0) {
        errno = e;
        return -1;
      }
      if (!S_ISDIR(st.st_mode)) {
        errno = i < len ? ENOTDIR : EEXIST;
        return -1;
      }
    }
    if (i < len) p[i] = '/';
  }
  return 0;
}

/* fs.mkdir_p(path [, mode = 0755]) -> true | nil, err, code */
static int fs_mkdir_p(lua_State *L) {
  const char *path = check_path(L, 1);
  size_t len = strlen(path);
  mode_t mode = lua_isnoneornil(L, 2) ? 0755 : to_mode(L, 2, 2);
  char *p;
  int rc, e;
  if (len == 0) return push_errno(L, path, ENOENT);
  p = malloc(len + 1);
  if (p == NULL) return luaL_error(L, "fs: not enough memory");
  memcpy(p, path, len + 1);
  rc = mkdir_p(p, mode);
  e = errno;
  free(p);
  errno = e;
  return push_result(L, rc, path);
}

/* fs.remove(path) -> true | nil, err, code (a file, a link or an empty directory) */
static int fs_remove(lua_State *L) {
  const char *path = check_path(L, 1);
  return push_result(L, remove(path), path);
}

/* Removes name (relative to dfd) and, for a directory, its content. rel is
 * a buffer holding the path for messages; *err_at gets a copy on failure. */
static int rm_at(int dfd, const char *name, char *rel, size_t rellen, size_t relcap, int depth,
                 char **err_at, int *too_deep) {
  struct stat st;
  size_t nl = strlen(name);
  size_t sub;
  if (rellen + nl + 2 > relcap) {
    errno = ENAMETOOLONG;
    goto fail;
  }
  sub = rellen;
  if (rellen > 0 && rel[rellen - 1] != '/') rel[sub++] = '/';
  memcpy(rel + sub, name, nl + 1);
  sub += nl;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) goto fail;
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dfd, name, 0) != 0) goto fail;
  } else {
    strvec names = {0};
    struct dirent *de;
    DIR *d;
    size_t i;
    int fd, rc = 0;
    if (depth >= FS_MAX_DEPTH) {
      *too_deep = 1;
      goto fail;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) goto fail;
    d = fdopendir(fd);
    if (d == NULL) {
      close_keep_errno(fd);
      goto fail;
    }
    errno = 0;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
      if (sv_push(&names, xstrdup(de->d_name)) != 0) {
        errno = ENOMEM;
        break;
      }
      errno = 0;
    }
    if (errno != 0) {
      sv_free(&names);
      closedir(d);
      goto fail;
    }
    for (i = 0; i < names.n && rc == 0; i++)
      rc = rm_at(dirfd(d), names.v[i], rel, sub, relcap, depth + 1, err_at, too_deep);
    sv_free(&names);
    closedir(d);
    if (rc != 0) return rc;
    rel[sub] = '\0';
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0) goto fail;
  }
  rel[rellen] = '\0';
  return 0;
fail:
  if (*err_at == NULL) {
    int e = errno;
    *err_at = xstrdup(rel);
    errno = e;
  }
  return -1;
}

/* fs.remove_tree(path) -> true | nil, err, code. Symlinks are unlinked, never
 * followed. A missing path is success (like rm -rf). Raises on "" and "/". */
static int fs_remove_tree(lua_State *L) {
  const char *path = check_path(L, 1);
  size_t len = strlen(path);
  /* rel holds the failing path for messages: the tree can be deeper than PATH_MAX */
  size_t relcap = len + (size_t)FS_MAX_DEPTH * (NAME_MAX + 1) + 2;
  char *rel, *err_at = NULL;
  int rc, e, too_deep = 0;
  struct stat st;
  luaL_argcheck(L, len > 0 && strspn(path, "/") != len, 1,
                "fs: refusing to remove_tree \"\" or \"/\"");
  if (lstat(path, &st) != 0 && errno == ENOENT) {
    lua_pushboolean(L, 1);
    return 1;
  }
  rel = malloc(relcap);
  if (rel == NULL) return luaL_error(L, "fs: not enough memory");
  rel[0] = '\0';
  rc = rm_at(AT_FDCWD, path, rel, 0, relcap, 0, &err_at, &too_deep);
  e = errno;
  free(rel);
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  {
    /* the message is built in C memory so err_at is freed before Lua allocates */
    char msg[PATH_MAX + 256], buf[32];
    if (too_deep)
      snprintf(msg, sizeof msg, "fs: %s: nesting too deep (more than %d levels)",
               err_at ? err_at : path, FS_MAX_DEPTH);
    else
      snprintf(msg, sizeof msg, "fs: %s: %s", err_at ? err_at : path, strerror(e));
    free(err_at);
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    lua_pushstring(L, too_deep ? "ELOOP" : errno_name(e, buf, sizeof buf));
    return 3;
  }
}

/* fs.rename(from, to) -> true | nil, "fs: <from> -> <to>: <strerror>", code */
static int fs_rename(lua_State *L) {
  const char *from = check_path(L, 1);
  const char *to = check_path(L, 2);
  return push_result2(L, rename(from, to), from, to);
}

/* fs.link(from, to) -> true | nil, err, code: a hard link (another name for
 * the same file: no new file is made, and the file goes away with its last
 * name). Fails where the file system has none or from and to are on two. */
static int fs_link(lua_State *L) {
  const char *from = check_path(L, 1);
  const char *to = check_path(L, 2);
  return push_result2(L, link(from, to), from, to);
}

/* fs.same(path, text) -> boolean [, err, code]: true when path is a regular
 * file holding exactly text. Its size is compared first, then its bytes, as
 * they are read: nothing is copied into Lua. A missing file is false; any
 * other failure is false, err, code. */
static int fs_same(lua_State *L) {
  const char *path = check_path(L, 1);
  size_t len, off = 0;
  const char *text = luaL_checklstring(L, 2, &len);
  char chunk[16 * 1024];
  struct stat st;
  int fd, same = 0, e = 0;
  do fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a fifo: no wait for a writer */
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    e = errno;
  } else if (fstat(fd, &st) != 0) {
    e = errno;
  } else if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size == (uintmax_t)len) {
    same = 1;
    for (;;) {
      ssize_t n = read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        e = errno;
        same = 0;
        break;
      }
      if (n == 0) break;
      /* a file that grew since fstat holds more than text */
      if ((size_t)n > len - off || memcmp(chunk, text + off, (size_t)n) != 0) {
        same = 0;
        break;
      }
      off += (size_t)n;
    }
    if (same && off != len) same = 0; /* it shrank since fstat */
  }
  if (fd >= 0) close(fd);
  if (e != 0 && e != ENOENT) { /* push_errno's triple, with false where it has nil */
    push_errno(L, path, e);
    lua_pushboolean(L, 0);
    lua_replace(L, -4);
    return 3;
  }
  lua_pushboolean(L, same);
  return 1;
}

/* fs.copy(from, to [, {mode=}]) -> true | nil, err, code. Streams through a
 * temp file beside `to` and renames it over, as fs.write does. The default
 * mode is the source's permission bits. */
static int fs_copy(lua_State *L) {
  static const char *const opts[] = {"mode", NULL};
  const char *from = check_path(L, 1);
  const char *to = check_path(L, 2);
  int given, in, out;
  mode_t mode;
  struct stat st;
  char *tmp, *buf;
  check_opts(L, 3, opts);
  mode = opt_mode(L, 3, 3, 0, &given);
  in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return push_errno(L, from, errno);
  if (fstat(in, &st) != 0 || (S_ISDIR(st.st_mode) && (errno = EISDIR))) {
    close_keep_errno(in);
    return push_errno(L, from, errno);
  }
  if (!given) mode = st.st_mode & 07777;
  buf = malloc(FS_CHUNK);
  if (buf == NULL) {
    close(in);
    return luaL_error(L, "fs: not enough memory");
  }
  out = open_temp(to, &tmp);
  if (out < 0) {
    int e = errno;
    close(in);
    free(buf);
    return push_errno(L, to, e);
  }
  for (;;) {
    ssize_t n = read(in, buf, FS_CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      abort_temp(out, tmp);
      close(in);
      free(buf);
      return push_errno(L, from, e);
    }
    if (n == 0) break;
    if (write_all(out, buf, (size_t)n) != 0) {
      int e = errno;
      abort_temp(out, tmp);
      close(in);
      free(buf);
      return push_errno(L, to, e);
    }
  }
  close(in);
  free(buf);
  return push_result(L, commit_temp(out, tmp, to, mode, 1), to);
}

/* Reads the names of a directory (no . and ..) into sv; errno on failure.
 * typed: each name is preceded by one byte telling what readdir says it is
 * ('f' a regular file, 'd' a directory, '?' anything else or not known), so
 * that a walk needs no fstatat for most entries. */
static int read_names(DIR *d, strvec *sv, int typed) {
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    char *name;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (typed) {
      size_t n = strlen(de->d_name) + 1;
      name = malloc(n + 1);
      if (name != NULL) {
        name[0] = de->d_type == DT_REG ? 'f' : de->d_type == DT_DIR ? 'd' : '?';
        memcpy(name + 1, de->d_name, n);
      }
    } else {
      name = xstrdup(de->d_name);
    }
    if (sv_push(sv, name) != 0) {
      errno = ENOMEM;
      return -1;
    }
    errno = 0;
  }
  return errno == 0 ? 0 : -1;
}

/* fs.list(dir) -> sorted array of names | nil, err, code */
static int fs_list(lua_State *L) {
  const char *path = check_path(L, 1);
  strvec *sv = new_svbox(L);
  DIR *d = opendir(path);
  int rc, e;
  if (d == NULL) return push_errno(L, path, errno);
  rc = read_names(d, sv, 0);
  e = errno;
  closedir(d);
  if (rc != 0) {
    sv_free(sv);
    return push_errno(L, path, e);
  }
  return sv_push_sorted(L, sv);
}

/* Sets w->rel to its first `len` bytes plus "/name" (or "name"). */
static int walk_setrel(walker *w, size_t len, const char *name) {
  size_t nl = strlen(name), need = len + nl + 2;
  if (need > w->relcap) {
    size_t cap = need * 2;
    char *r = realloc(w->rel, cap);
    if (r == NULL) return -1;
    w->rel = r;
    w->relcap = cap;
  }
  if (len > 0) w->rel[len++] = '/';
  memcpy(w->rel + len, name, nl + 1);
  w->rellen = len + nl;
  return 0;
}

static int walk_fail(walker *w, int e) {
  if (w->err == 0 && !w->too_deep) {
    w->err = e;
    w->errpath = path_join2(w->root, w->rel);
  }
  return -1;
}

/* The entry of the file name (in the open directory dfd) for a walk with
 * sha256: w->rel, a NUL, the hex SHA-256 of its bytes and their count.
 * Read through the directory, so the long path is not looked up again.
 * malloc'd; NULL with errno set. */
static char *walk_digest(walker *w, int dfd, const char *name) {
  unsigned char buf[16384], md[32];
  uint64_t size = 0;
  char *entry;
  int r, e, fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  r = lakehost_sha256_fd(w->md, fd, buf, sizeof buf, md, &size);
  e = r == -1 ? errno : ENOMEM; /* an OpenSSL failure: as when the context could not be made */
  close(fd);
  if (r != 0) {
    errno = e;
    return NULL;
  }
  entry = malloc(w->rellen + 1 + 64 + 21);
  if (entry == NULL) return NULL;
  memcpy(entry, w->rel, w->rellen + 1);
  lakehost_hex(md, sizeof md, entry + w->rellen + 1);
  snprintf(entry + w->rellen + 1 + 64, 21, "%llu", (unsigned long long)size);
  return entry;
}

/* The entry of a folder (with dirs): its path; with sha256, followed by a
 * second NUL where a file's digest would start. malloc'd or NULL. */
static char *walk_folder_entry(walker *w) {
  char *entry = malloc(w->rellen + 2);
  if (entry == NULL) return NULL;
  memcpy(entry, w->rel, w->rellen + 1);
  entry[w->rellen + 1] = '\0';
  return entry;
}

/* Walks the open directory d (owned: closed here) at w->rel. */
static int walk_dir(walker *w, DIR *d, int depth) {
  strvec names = {0};
  size_t i, base = w->rellen;
  int rc = 0;
  if (read_names(d, &names, 1) != 0) {
    int e = errno;
    closedir(d);
    sv_free(&names);
    return walk_fail(w, e);
  }
  for (i = 0; i < names.n && rc == 0; i++) {
    struct stat st;
    int is_link = 0, sub;
    char type = names.v[i][0];
    const char *name = names.v[i] + 1;
    if (walk_setrel(w, base, name) != 0) {
      rc = walk_fail(w, ENOMEM);
      break;
    }
    /* readdir's type is enough for files, and for directories when links
     * are not followed (no loop to look for); fstatat tells the rest */
    if (type == 'f' || (type == 'd' && !w->follow)) {
      memset(&st, 0, sizeof st);
      st.st_mode = type == 'f' ? S_IFREG : S_IFDIR;
    } else {
      if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue; /* vanished meanwhile */
        rc = walk_fail(w, errno);
        break;
      }
      is_link = S_ISLNK(st.st_mode);
      if (is_link && fstatat(dirfd(d), name, &st, 0) != 0) {
        if (errno == ENOENT || errno == ELOOP) continue; /* dangling or looping link */
        rc = walk_fail(w, errno);
        break;
      }
    }
    if (S_ISREG(st.st_mode)) {
      char *entry = w->md ? walk_digest(w, dirfd(d), name) : xstrdup(w->rel);
      if (entry == NULL && w->md && errno == ENOENT) continue; /* vanished meanwhile */
      if (entry == NULL) {
        rc = walk_fail(w, w->md ? errno : ENOMEM);
      } else if (sv_push(&w->out, entry) != 0) {
        rc = walk_fail(w, ENOMEM);
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue; /* fifos, sockets, devices */
    if (w->dirs && sv_push(&w->out, walk_folder_entry(w)) != 0) {
      rc = walk_fail(w, ENOMEM);
      break;
    }
    if (is_link && !w->follow) continue;
    if (is_link) { /* follow: skip a directory that is one of its own ancestors */
      int a, loop = 0;
      for (a = 0; a <= depth; a++)
        if (w->anc[a].dev == st.st_dev && w->anc[a].ino == st.st_ino) loop = 1;
      if (loop) continue;
    }
    if (depth + 1 >= FS_MAX_DEPTH) {
      walk_fail(w, ELOOP);
      w->too_deep = 1;
      rc = -1;
      break;
    }
    sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (is_link ? 0 : O_NOFOLLOW));
    if (sub < 0 && errno == ENOENT) continue; /* vanished meanwhile */
    if (sub < 0) {
      rc = walk_fail(w, errno);
      break;
    }
    if (w->anc != NULL) {
      w->anc[depth + 1].dev = st.st_dev;
      w->anc[depth + 1].ino = st.st_ino;
    }
    {
      DIR *sd = fdopendir(sub);
      if (sd == NULL) {
        int e = errno;
        close(sub);
        rc = walk_fail(w, e);
        break;
      }
      rc = walk_dir(w, sd, depth + 1);
    }
  }
  w->rellen = base;
  if (w->rel) w->rel[base] = '\0';
  closedir(d);
  sv_free(&names);
  return rc;
}

/* The sorted entries of a walk with sha256 as three arrays: paths, hex
 * digests, sizes (folders, with dirs, have no digest: false and -1). */
static int walk_push_digests(lua_State *L, strvec *sv) {
  size_t i;
  if (sv->n > 1) qsort(sv->v, sv->n, sizeof *sv->v, cmp_str); /* by path: it ends at the NUL */
  lua_createtable(L, (int)sv->n, 0);
  lua_createtable(L, (int)sv->n, 0);
  lua_createtable(L, (int)sv->n, 0);
  for (i = 0; i < sv->n; i++) {
    const char *path = sv->v[i];
    size_t len = strlen(path);
    lua_pushlstring(L, path, len);
    lua_rawseti(L, -4, (lua_Integer)i + 1);
    if (path[len + 1] == '\0') { /* a folder */
      lua_pushboolean(L, 0);
      lua_rawseti(L, -3, (lua_Integer)i + 1);
      lua_pushinteger(L, -1);
    } else {
      lua_pushlstring(L, path + len + 1, 64);
      lua_rawseti(L, -3, (lua_Integer)i + 1);
      lua_pushinteger(L, (lua_Integer)strtoll(path + len + 65, NULL, 10));
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  sv_free(sv);
  return 3;
}

/* fs.walk(dir [, {dirs = false, follow = false, sha256 = false}]) -> sorted relative paths
 * [, sha256 hex digests, sizes (with sha256)] | nil, err, code */
static int fs_walk(lua_State *L) {
  static const char *const opts[] = {"dirs", "follow", "sha256", NULL};
  const char *root = check_path(L, 1);
  int dirs, follow, sha, rc;
  walker *w;
  DIR *d;
  struct stat st;
  check_opts(L, 2, opts);
  dirs = opt_bool(L, 2, 2, "dirs", 0);
  follow = opt_bool(L, 2, 2, "follow", 0);
  sha = opt_bool(L, 2, 2, "sha256", 0);
  w = (walker *)lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  luaL_setmetatable(L, FS_WALK);
  if (sha && (w->md = EVP_MD_CTX_new()) == NULL) return luaL_error(L, "fs: not enough memory");
  w->root = root;
  w->dirs = dirs;
  w->follow = follow;
  /* opendir: one open and one fstat (fdopendir after an open of our own
   * costs two more system calls); the root's identity only matters when
   * links are followed, to stop at a loop back to it */
  d = opendir(root);
  if (d == NULL) return push_errno(L, root, errno);
  if (follow) {
    w->anc = (struct ancestor *)malloc((FS_MAX_DEPTH + 1) * sizeof *w->anc);
    if (w->anc == NULL) {
      closedir(d);
      return push_errno(L, root, ENOMEM);
    }
    if (fstat(dirfd(d), &st) != 0) {
      int e = errno;
      closedir(d);
      return push_errno(L, root, e);
    }
    w->anc[0].dev = st.st_dev;
    w->anc[0].ino = st.st_ino;
  }
  rc = walk_dir(w, d, 0);
  if (rc == 0) return sha ? walk_push_digests(L, &w->out) : sv_push_sorted(L, &w->out);
  if (!w->too_deep) return push_errno(L, w->errpath ? w->errpath : root, w->err);
  luaL_pushfail(L);
  lua_pushfstring(L, "fs: %s: nesting too deep (more than %d levels)",
                  w->errpath ? w->errpath : root, FS_MAX_DEPTH);
  lua_pushliteral(L, "ELOOP");
  return 3;
}

/* fs.glob(pattern) -> sorted array of matches (empty when none) | nil, err */
static int fs_glob(lua_State *L) {
  const char *pat = check_path(L, 1);
  strvec *sv = new_svbox(L);
  glob_t g;
  size_t i;
  int rc = glob(pat, GLOB_NOSORT, NULL, &g);
  if (rc == GLOB_NOMATCH) {
    globfree(&g);
    lua_newtable(L);
    return 1;
  }
  if (rc != 0) {
    globfree(&g);
    luaL_pushfail(L);
    lua_pushfstring(L, "fs: %s: %s", pat, rc == GLOB_NOSPACE ? "out of memory" : "read error");
    return 2;
  }
  for (i = 0; i < g.gl_pathc; i++) {
    if (sv_push(sv, xstrdup(g.gl_pathv[i])) != 0) {
      globfree(&g);
      return luaL_error(L, "fs: not enough memory");
    }
  }
  globfree(&g);
  return sv_push_sorted(L, sv);
}

/* fs.realpath(path) -> string | nil, err, code */
static int fs_realpath(lua_State *L) {
  const char *path = check_path(L, 1);
  char buf[PATH_MAX];
  if (realpath(path, buf) == NULL) return push_errno(L, path, errno);
  lua_pushstring(L, buf);
  return 1;
}

/* fs.cwd() -> string | nil, err, code */
static int fs_cwd(lua_State *L) {
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof buf) == NULL) return push_errno(L, ".", errno);
  lua_pushstring(L, buf);
  return 1;
}

/* fs.dirname(p) -> string (POSIX dirname: "a/b/" -> "a", "a" -> ".", "/" -> "/") */
static int fs_dirname(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  while (n > 1 && p[n - 1] == '/') n--; /* trailing slashes */
  while (n > 0 && p[n - 1] != '/') n--; /* last component */
  if (n == 0) {
    lua_pushliteral(L, ".");
    return 1;
  }
  while (n > 1 && p[n - 1] == '/') n--; /* slashes before it */
  lua_pushlstring(L, p, n);
  return 1;
}

/* fs.basename(p) -> string (POSIX basename: "a/b/" -> "b", "/" -> "/", "" -> ".") */
static int fs_basename(lua_State *L) {
  size_t n, s;
  const char *p = luaL_checklstring(L, 1, &n);
  if (n == 0) {
    lua_pushliteral(L, ".");
    return 1;
  }
  while (n > 1 && p[n - 1] == '/') n--;
  if (n == 1 && p[0] == '/') {
    lua_pushliteral(L, "/");
    return 1;
  }
  s = n;
  while (s > 0 && p[s - 1] != '/') s--;
  lua_pushlstring(L, p + s, n - s);
  return 1;
}

/* fs.join(a, b, ...) -> string: parts joined by one '/'; empty parts are
 * skipped and an absolute part restarts the path (as Python's os.path.join). */
static int fs_join(lua_State *L) {
  int n = lua_gettop(L), i, start = 1;
  luaL_Buffer b;
  int have = 0;
  for (i = 1; i <= n; i++) {
    const char *s = luaL_checkstring(L, i);
    if (s[0] == '/') start = i;
  }
  luaL_buffinit(L, &b);
  for (i = start; i <= n; i++) {
    size_t len;
    const char *s = lua_tolstring(L, i, &len);
    if (len == 0) continue;
    if (have) {
      /* one separator: drop the part's leading ones if the buffer ends in '/' */
      if (luaL_bufflen(&b) == 0 || luaL_buffaddr(&b)[luaL_bufflen(&b) - 1] != '/')
        luaL_addchar(&b, '/');
    }
    luaL_addlstring(&b, s, len);
    have = 1;
  }
  luaL_pushresult(&b);
  return 1;
}

/* fs.tmpdir([prefix = "lakehost-"]) -> path | nil, err, code (mkdtemp under $TMPDIR or /tmp) */
static int fs_tmpdir(lua_State *L) {
  const char *prefix = luaL_optstring(L, 1, "lakehost-");
  const char *dir = getenv("TMPDIR");
  char buf[PATH_MAX];
  luaL_argcheck(L, strchr(prefix, '/') == NULL, 1, "prefix must not contain '/'");
  if (dir == NULL || dir[0] == '\0') dir = "/tmp";
  if ((size_t)snprintf(buf, sizeof buf, "%s/%sXXXXXX", dir, prefix) >= sizeof buf)
    return push_errno(L, dir, ENAMETOOLONG);
  if (mkdtemp(buf) == NULL) return push_errno(L, dir, errno);
  lua_pushstring(L, buf);
  return 1;
}

/* fs.mtime_set(path, seconds) -> true | nil, err, code (seconds may have a fraction) */
static int fs_mtime_set(lua_State *L) {
  const char *path = check_path(L, 1);
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  if (lua_isinteger(L, 2)) {
    ts[1].tv_sec = (time_t)lua_tointeger(L, 2);
    ts[1].tv_nsec = 0;
  } else {
    lua_Number s = luaL_checknumber(L, 2), whole;
    luaL_argcheck(L, s > -1e15 && s < 1e15, 2, "seconds out of range");
    whole = (lua_Number)(lua_Integer)s;
    if (whole > s) whole -= 1;
    ts[1].tv_sec = (time_t)whole;
    ts[1].tv_nsec = (long)((s - whole) * 1e9);
  }
  return push_result(L, utimensat(AT_FDCWD, path, ts, 0), path);
}

/* fs.chmod(path, mode) -> true | nil, err, code */
static int fs_chmod(lua_State *L) {
  const char *path = check_path(L, 1);
  mode_t mode = to_mode(L, 2, 2);
  return push_result(L, chmod(path, mode), path);
}

/* fs.lock(path [, {wait = true}]) -> lock | nil, err, code. An exclusive flock
 * on path (created if needed, never removed). With wait = false a lock held
 * elsewhere gives nil, "fs: <path>: locked", "EWOULDBLOCK". */
static int fs_lock(lua_State *L) {
  static const char *const opts[] = {"wait", NULL};
  const char *path = check_path(L, 1);
  int wait, rc;
  LLock *lk;
  check_opts(L, 2, opts);
  wait = opt_bool(L, 2, 2, "wait", 1);
  lk = (LLock *)lua_newuserdatauv(L, sizeof *lk, 0);
  lk->fd = -1;
  luaL_setmetatable(L, FS_LOCK);
  lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lk->fd < 0) return push_errno(L, path, errno);
  do {
    rc = flock(lk->fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    close(lk->fd);
    lk->fd = -1;
    if (e == EWOULDBLOCK) {
      luaL_pushfail(L);
      lua_pushfstring(L, "fs: %s: locked", path);
      lua_pushliteral(L, "EWOULDBLOCK");
      return 3;
    }
    return push_errno(L, path, e);
  }
  return 1;
}

/* ------------------------------------------------------------- registry */

static const luaL_Reg fs_funcs[] = {{"read", fs_read},
                                    {"write", fs_write},
                                    {"stat", fs_stat},
                                    {"exists", fs_exists},
                                    {"isdir", fs_isdir},
                                    {"isfile", fs_isfile},
                                    {"mkdir_p", fs_mkdir_p},
                                    {"remove", fs_remove},
                                    {"remove_tree", fs_remove_tree},
                                    {"rename", fs_rename},
                                    {"copy", fs_copy},
                                    {"link", fs_link},
                                    {"same", fs_same},
                                    {"list", fs_list},
                                    {"walk", fs_walk},
                                    {"glob", fs_glob},
                                    {"realpath", fs_realpath},
                                    {"cwd", fs_cwd},
                                    {"dirname", fs_dirname},
                                    {"basename", fs_basename},
                                    {"join", fs_join},
                                    {"tmpdir", fs_tmpdir},
                                    {"mtime_set", fs_mtime_set},
                                    {"chmod", fs_chmod},
                                    {"lock", fs_lock},
                                    {NULL, NULL}};

static const luaL_Reg lock_meths[] = {{"unlock", lock_unlock}, {NULL, NULL}};

static const luaL_Reg lock_metas[] = {{"__index", NULL},
                                      {"__gc", lock_gc},
                                      {"__close", lock_gc},
                                      {"__tostring", lock_tostring},
                                      {NULL, NULL}};

static const luaL_Reg fd_metas[] = {{"__gc", fd_gc}, {"__close", fd_gc}, {NULL, NULL}};
static const luaL_Reg sv_metas[] = {{"__gc", sv_gc}, {NULL, NULL}};
static const luaL_Reg walker_metas[] = {{"__gc", walker_gc}, {NULL, NULL}};

int luaopen_host_fs(lua_State *L) {
  luaL_newmetatable(L, FS_LOCK);
  luaL_setfuncs(L, lock_metas, 0);
  luaL_newlibtable(L, lock_meths);
  luaL_setfuncs(L, lock_meths, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_FD);
  luaL_setfuncs(L, fd_metas, 0);
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_SV);
  luaL_setfuncs(L, sv_metas, 0);
  lua_pop(L, 1);
  luaL_newmetatable(L, FS_WALK);
  luaL_setfuncs(L, walker_metas, 0);
  lua_pop(L, 1);
  luaL_newlib(L, fs_funcs);
  return 1;
}
