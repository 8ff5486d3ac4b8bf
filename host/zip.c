/*
 * host.zip -- deterministic zip archives (zlib deflate; the container is ours).
 *
 * The same entries give the same bytes, whatever the clock, the file times,
 * the umask or the order of the add_* calls:
 *   - entries sorted by name (byte order);
 *   - every entry stamped with SOURCE_DATE_EPOCH (UTC, clamped to the DOS
 *     range 1980..2107) or else 1980-01-01 00:00:00;
 *   - external attributes 0100644, or 0100755 when the source file is
 *     executable by its owner (or the entry's mode says so); nothing else of
 *     the source's mode leaks in;
 *   - "version made by" 3 (Unix) << 8 | 20, no extra fields, no data
 *     descriptors, no comments; general purpose bit 11 for non-ASCII names;
 *   - raw deflate, level 9, default strategy; an entry whose deflated form
 *     is not smaller than its data is stored (method 0) instead.
 *
 * Layout: each local header is written with zeroed CRC and sizes, the data
 * is streamed through deflate straight into the output, then the header is
 * patched in place (pwrite). An entry that does not shrink is rewritten as
 * stored over its own deflated bytes (the source is read a second time).
 * The archive's sha256 is computed by re-reading the finished temp file.
 *
 * ZIP64 is not written: an archive with more than 65535 entries, an entry of
 * 4 GiB or more or an offset beyond 4 GiB fails with "zip: archive too large
 * (needs ZIP64)". Lambda packages stay far below (250 MB unzipped).
 *
 * Extraction (zip.extract) distrusts the archive: before writing anything it
 * refuses unsafe names, encrypted/symlink/unknown entries, local entries that
 * overlap (several central records sharing bytes: the classic zip bomb) and
 * declared sizes over a total budget (max_total, 512 MiB by default); while
 * inflating it holds each entry to its declared size and CRC and the whole to
 * the budget. It writes into a temporary folder inside the target and moves
 * the tree in only once every entry is out, so a refused archive leaves the
 * target as it was.
 *
 * Memory: the writer owns its entries (C heap) and keeps add_data strings in
 * its user value; close() does all its I/O with C-owned memory and pushes
 * its result afterwards. zip.list/zip.extract hold descriptors, buffers and
 * the inflate stream in a reader userdata created first.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "host.h"

#define ZIPW "lakehost.zip.writer"
#define ZIPR "lakehost.zip.reader" /* internal: owns list/extract resources */

#define ZIP_CHUNK (256 * 1024)
#define ZIP_MAX32 0xFFFFFFFEu /* 0xFFFFFFFF itself means "see ZIP64" */
#define ZIP_MAX_ENTRIES 65535
#define ZIP_ERRSZ (PATH_MAX + 512)
#define ZIP_TOO_LARGE "zip: archive too large (needs ZIP64)"
/* Extraction: the default budget of bytes written (Lambda allows 250 MB
 * unzipped, function and layers together: twice that leaves room and still
 * stops a bomb early), how deep names may nest (bounds the recursion of the
 * final move), the temporary folder's prefix and the room for a path
 * under the target (an entry name is at most 65535 bytes). */
#define ZIP_MAX_TOTAL (512ull * 1024 * 1024)
#define ZIP_MAX_DEPTH 128
#define ZIP_STR_(x) #x
#define ZIP_STR(x) ZIP_STR_(x)
#define ZIP_TMP ".lakehost-zip-"
#define ZIP_RELSZ (65536 + NAME_MAX + 2)

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define MADE_BY ((3u << 8) | 20u)
#define FLAG_UTF8 0x0800u

/* One entry of a writer. */
typedef struct {
  char *name;       /* validated, NUL-free */
  char *src;        /* file to read at close, or NULL for data */
  int data;         /* index of the data string in the user value */
  int mode;         /* 0644, 0755, or -1: from the source's owner-exec bit */
  const char *dptr; /* data, filled in at close */
  size_t dlen;
} zentry;

/* lakehost.zip.writer; closed once close/__gc/__close ran. */
typedef struct {
  char *path;
  zentry *e;
  size_t n, cap;
  int closed;
} LZipW;

/* Buffered output with a known offset (pwrite only, so headers can be
 * patched behind the write position). */
typedef struct {
  int fd;
  uint64_t base; /* file offset of buf[0] */
  size_t len;
  unsigned char *buf;
} zout;

/* A growable byte buffer (the central directory). */
typedef struct {
  unsigned char *p;
  size_t n, cap;
} zbuf;

/* Everything close() allocates; freed by zw_cleanup. */
typedef struct {
  zout out;
  zbuf cd;
  z_stream z;
  int zinit;
  unsigned char *in, *zbufout;
  char *tmp;
  int infd;
  char err[ZIP_ERRSZ];
} zwork;

/* One parsed central directory record (pointers into LZipR.cd). */
typedef struct {
  const unsigned char *name;
  size_t namelen;
  unsigned flags, method, made_by;
  uint32_t crc, csize, usize, ext, lhoff;
  uint64_t doff; /* where the data starts (extract: set by check_entries) */
} zcent;

/* lakehost.zip.reader: the resources of zip.list / zip.extract. */
typedef struct {
  int fd, outfd, rootfd, dirfd;
  unsigned char *cd, *in, *outb;
  zcent *ents;
  size_t nents;
  uint64_t cdoff;
  uint64_t max_total, written; /* extract: the budget and what was written */
  z_stream z;
  int zinit;
} LZipR;

/* ---------------------------------------------------------------- helpers */

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v & 0xFF);
  p[1] = (unsigned char)((v >> 8) & 0xFF);
}

static void put32(unsigned char *p, uint32_t v) {
  put16(p, v & 0xFFFF);
  put16(p + 2, (v >> 16) & 0xFFFF);
}

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

/* A path argument: a string without NUL bytes (the system would cut it). */
static const char *check_path(lua_State *L, int arg) {
  size_t len;
  const char *p = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, strlen(p) == len, arg, "path contains a NUL byte");
  return p;
}

/* A permission mode from an integer (<= 0777) or an octal string, reduced to
 * 0644 or 0755 by its owner-exec bit. */
static int to_mode(lua_State *L, int idx, int arg) {
  unsigned long m = 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    char *end;
    if (*s == '\0' || strspn(s, "01234567") != strlen(s) || strlen(s) > 5 ||
        (m = strtoul(s, &end, 8)) > 07777)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "invalid mode '%s' (octal digits, at most 7777)", s));
  } else if (lua_isinteger(L, idx)) {
    lua_Integer i = lua_tointeger(L, idx);
    if (i < 0 || i > 0777)
      luaL_argerror(L, arg,
                    lua_pushfstring(L,
                                    "invalid mode %I (Lua has no octal literals: "
                                    "write \"%I\" or tonumber(\"%I\", 8))",
                                    i, i, i));
    m = (unsigned long)i;
  } else {
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "mode must be an integer or an octal string, got %s",
                                  luaL_typename(L, idx)));
  }
  return (m & 0100) ? 0755 : 0644;
}

/* The entry mode from an options table {mode=} at idx, or dflt. */
static int opt_mode(lua_State *L, int idx, int dflt) {
  int m = dflt;
  if (lua_isnoneornil(L, idx)) return m;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "mode") != 0) {
      lua_pop(L, 1);
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
    }
    lua_pop(L, 1);
  }
  if (lua_getfield(L, idx, "mode") != LUA_TNIL) m = to_mode(L, -1, idx);
  lua_pop(L, 1);
  return m;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  uint32_t c;
  size_t k, i;
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    k = 2, c = s[0] & 0x1F;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF)
    k = 3, c = s[0] & 0x0F;
  else if (s[0] >= 0xF0 && s[0] <= 0xF4)
    k = 4, c = s[0] & 0x07;
  else
    return 0;
  if (k > n) return 0;
  for (i = 1; i < k; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
      (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  return k;
}

/* Why name is not a valid entry name, or NULL when it is. */
static const char *bad_name(const char *name, size_t len) {
  size_t i, seg = 0;
  if (len == 0) return "empty name";
  if (len > 65535) return "longer than 65535 bytes";
  if (name[0] == '/') return "absolute path";
  if (name[len - 1] == '/') return "ends with '/'";
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == '\0') return "NUL byte";
    if (c == '\\') return "backslash (use '/')";
    if (c >= 0x80) {
      size_t k = utf8_len((const unsigned char *)name + i, len - i);
      if (k == 0) return "not UTF-8";
      i += k - 1;
    }
  }
  for (i = 0; i <= len; i++) {
    if (i < len && name[i] != '/') continue;
    if (i == seg) return "empty segment";
    if (i - seg == 2 && name[seg] == '.' && name[seg + 1] == '.') return "'..' segment";
    if (i - seg == 1 && name[seg] == '.') return "'.' segment";
    seg = i + 1;
  }
  return NULL;
}

static int is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return 0;
  return 1;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Reads until buf is full or EOF; returns the count or -1. */
static ssize_t read_full(int fd, unsigned char *buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

static ssize_t pread_full(int fd, unsigned char *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* ------------------------------------------------------------ zip output */

static uint64_t out_pos(const zout *o) { return o->base + o->len; }

static int out_flush(zout *o) {
  if (o->len > 0 && pwrite_all(o->fd, o->buf, o->len, o->base) != 0) return -1;
  o->base += o->len;
  o->len = 0;
  return 0;
}

static int out_write(zout *o, const void *p, size_t n) {
  const unsigned char *s = p;
  while (n > 0) {
    size_t room = ZIP_CHUNK - o->len, k = n < room ? n : room;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    n -= k;
    if (o->len == ZIP_CHUNK && out_flush(o) != 0) return -1;
  }
  return 0;
}

/* Moves the write position back to off (at or after the last flush, or
 * anywhere before it after flushing). */
static int out_seek(zout *o, uint64_t off) {
  if (off >= o->base && off <= o->base + o->len) {
    o->len = (size_t)(off - o->base);
    return 0;
  }
  if (out_flush(o) != 0) return -1;
  o->base = off;
  return 0;
}

static int zb_add(zbuf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    unsigned char *q;
    while (cap < b->n + n) cap *= 2;
    q = realloc(b->p, cap);
    if (q == NULL) return -1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

/* DOS time and date from SOURCE_DATE_EPOCH (or 1980-01-01); -1 if invalid. */
static int dos_stamp(unsigned *dtime, unsigned *ddate, char *err) {
  const char *env = getenv("SOURCE_DATE_EPOCH");
  struct tm tm;
  time_t t;
  *dtime = 0;
  *ddate = (1u << 5) | 1u; /* 1980-01-01 */
  if (env == NULL || env[0] == '\0') return 0;
  if (strspn(env, "0123456789") != strlen(env) || strlen(env) > 18) {
    snprintf(err, ZIP_ERRSZ, "zip: invalid SOURCE_DATE_EPOCH '%.64s' (want seconds since 1970)",
             env);
    return -1;
  }
  t = (time_t)strtoll(env, NULL, 10);
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 2107) {
    *dtime = (23u << 11) | (59u << 5) | 29u; /* 2107-12-31 23:59:58 */
    *ddate = (127u << 9) | (12u << 5) | 31u;
    return 0;
  }
  if (tm.tm_year + 1900 < 1980) return 0;
  *dtime = ((unsigned)tm.tm_hour << 11) | ((unsigned)tm.tm_min << 5) | ((unsigned)tm.tm_sec / 2);
  *ddate = ((unsigned)(tm.tm_year + 1900 - 1980) << 9) | ((unsigned)(tm.tm_mon + 1) << 5) |
           (unsigned)tm.tm_mday;
  return 0;
}

/* A source of entry bytes: a file descriptor or memory. */
typedef struct {
  int fd;
  const char *mem;
  size_t len, pos;
} zsrc;

static ssize_t src_read(zsrc *s, unsigned char *buf, size_t cap) {
  size_t k;
  if (s->fd >= 0) return read_full(s->fd, buf, cap);
  k = s->len - s->pos < cap ? s->len - s->pos : cap;
  memcpy(buf, s->mem + s->pos, k);
  s->pos += k;
  return (ssize_t)k;
}

static int src_rewind(zsrc *s) {
  if (s->fd >= 0) return lseek(s->fd, 0, SEEK_SET) == 0 ? 0 : -1;
  s->pos = 0;
  return 0;
}

static int fail_errno(zwork *w, const char *path) {
  snprintf(w->err, sizeof w->err, "zip: %s: %s", path, strerror(errno));
  return -1;
}

static int fail_msg(zwork *w, const char *msg) {
  snprintf(w->err, sizeof w->err, "%s", msg);
  return -1;
}

/* Deflates the source into the output; sets crc, usize, csize. */
static int deflate_entry(zwork *w, zsrc *s, const char *what, uint32_t *crc, uint64_t *usize,
                         uint64_t *csize) {
  int flush = Z_NO_FLUSH, rc;
  *crc = (uint32_t)crc32(0L, Z_NULL, 0);
  *usize = *csize = 0;
  if (deflateReset(&w->z) != Z_OK) return fail_msg(w, "zip: deflateReset failed");
  do {
    ssize_t n = src_read(s, w->in, ZIP_CHUNK);
    if (n < 0) return fail_errno(w, what);
    if ((size_t)n < ZIP_CHUNK) flush = Z_FINISH;
    *crc = (uint32_t)crc32(*crc, w->in, (uInt)n);
    *usize += (uint64_t)n;
    if (*usize > ZIP_MAX32) return fail_msg(w, ZIP_TOO_LARGE);
    w->z.next_in = w->in;
    w->z.avail_in = (uInt)n;
    do {
      size_t have;
      w->z.next_out = w->zbufout;
      w->z.avail_out = ZIP_CHUNK;
      rc = deflate(&w->z, flush);
      if (rc == Z_STREAM_ERROR) return fail_msg(w, "zip: deflate failed");
      have = ZIP_CHUNK - w->z.avail_out;
      *csize += have;
      if (have > 0 && out_write(&w->out, w->zbufout, have) != 0) return fail_errno(w, w->tmp);
    } while (w->z.avail_out == 0);
  } while (flush != Z_FINISH);
  if (rc != Z_STREAM_END) return fail_msg(w, "zip: deflate did not finish");
  return 0;
}

/* Copies the source into the output; the CRC and size must match the first
 * pass (else the file changed under us). */
static int store_entry(zwork *w, zsrc *s, const char *what, uint32_t crc, uint64_t usize) {
  uint32_t c = (uint32_t)crc32(0L, Z_NULL, 0);
  uint64_t total = 0;
  ssize_t n;
  if (src_rewind(s) != 0) return fail_errno(w, what);
  do {
    n = src_read(s, w->in, ZIP_CHUNK);
    if (n < 0) return fail_errno(w, what);
    c = (uint32_t)crc32(c, w->in, (uInt)n);
    total += (uint64_t)n;
    if (n > 0 && out_write(&w->out, w->in, (size_t)n) != 0) return fail_errno(w, w->tmp);
  } while ((size_t)n == ZIP_CHUNK);
  if (c != crc || total != usize) {
    snprintf(w->err, sizeof w->err, "zip: %s: file changed while zipping", what);
    return -1;
  }
  return 0;
}

static void local_header(unsigned char *h, unsigned flags, unsigned method, unsigned dtime,
                         unsigned ddate, uint32_t crc, uint32_t csize, uint32_t usize,
                         size_t namelen) {
  put32(h, SIG_LOCAL);
  put16(h + 4, method == 8 ? 20 : 10); /* version needed to extract */
  put16(h + 6, flags);
  put16(h + 8, method);
  put16(h + 10, dtime);
  put16(h + 12, ddate);
  put32(h + 14, crc);
  put32(h + 18, csize);
  put32(h + 22, usize);
  put16(h + 26, (unsigned)namelen);
  put16(h + 28, 0); /* no extra field */
}

/* Writes one entry (local header, data, patched header) and its central record. */
static int write_entry(zwork *w, zentry *e, unsigned dtime, unsigned ddate) {
  unsigned char h[46];
  size_t namelen = strlen(e->name);
  unsigned flags = is_ascii(e->name) ? 0 : FLAG_UTF8, method = 8;
  uint64_t hoff = out_pos(&w->out), doff, usize, csize;
  uint32_t crc;
  int mode = e->mode;
  zsrc s = {-1, e->dptr, e->dlen, 0};
  const char *what = e->src ? e->src : e->name;

  if (hoff > ZIP_MAX32) return fail_msg(w, ZIP_TOO_LARGE);
  if (e->src) {
    struct stat st;
    w->infd = open(e->src, O_RDONLY | O_CLOEXEC);
    if (w->infd < 0 || fstat(w->infd, &st) != 0) return fail_errno(w, e->src);
    if (!S_ISREG(st.st_mode)) {
      snprintf(w->err, sizeof w->err, "zip: %s: not a regular file", e->src);
      return -1;
    }
    if ((uint64_t)st.st_size > ZIP_MAX32) return fail_msg(w, ZIP_TOO_LARGE);
    if (mode < 0) mode = (st.st_mode & S_IXUSR) ? 0755 : 0644;
    s.fd = w->infd;
  }
  if (mode < 0) mode = 0644;

  local_header(h, flags, method, dtime, ddate, 0, 0, 0, namelen);
  if (out_write(&w->out, h, 30) != 0 || out_write(&w->out, e->name, namelen) != 0)
    return fail_errno(w, w->tmp);
  doff = out_pos(&w->out);
  if (deflate_entry(w, &s, what, &crc, &usize, &csize) != 0) return -1;
  if (csize >= usize) { /* did not shrink: store it over the deflated bytes */
    method = 0;
    if (out_seek(&w->out, doff) != 0) return fail_errno(w, w->tmp);
    if (store_entry(w, &s, what, crc, usize) != 0) return -1;
    csize = usize;
  }
  if (w->infd >= 0) {
    close(w->infd);
    w->infd = -1;
  }
  if (out_pos(&w->out) > ZIP_MAX32) return fail_msg(w, ZIP_TOO_LARGE);

  /* patch the local header now that CRC and sizes are known */
  local_header(h, flags, method, dtime, ddate, crc, (uint32_t)csize, (uint32_t)usize, namelen);
  if (hoff >= w->out.base) {
    memcpy(w->out.buf + (hoff - w->out.base), h, 30);
  } else if (pwrite_all(w->out.fd, h, 30, hoff) != 0) {
    return fail_errno(w, w->tmp);
  }

  put32(h, SIG_CENTRAL);
  put16(h + 4, MADE_BY);
  put16(h + 6, method == 8 ? 20 : 10);
  put16(h + 8, flags);
  put16(h + 10, method);
  put16(h + 12, dtime);
  put16(h + 14, ddate);
  put32(h + 16, crc);
  put32(h + 20, (uint32_t)csize);
  put32(h + 24, (uint32_t)usize);
  put16(h + 28, (unsigned)namelen);
  put16(h + 30, 0);                                           /* extra */
  put16(h + 32, 0);                                           /* comment */
  put16(h + 34, 0);                                           /* disk */
  put16(h + 36, 0);                                           /* internal attributes */
  put32(h + 38, (uint32_t)(0100000u | (unsigned)mode) << 16); /* external: S_IFREG | mode */
  put32(h + 42, (uint32_t)hoff);
  if (zb_add(&w->cd, h, 46) != 0 || zb_add(&w->cd, e->name, namelen) != 0) {
    errno = ENOMEM;
    return fail_errno(w, w->tmp);
  }
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const zentry *)a)->name, ((const zentry *)b)->name);
}

static void zw_cleanup(zwork *w) {
  if (w->infd >= 0) close(w->infd);
  if (w->out.fd >= 0) close(w->out.fd);
  if (w->tmp) unlink(w->tmp);
  if (w->zinit) deflateEnd(&w->z);
  free(w->tmp);
  free(w->out.buf);
  free(w->cd.p);
  free(w->in);
  free(w->zbufout);
}

/* sha256 of the first `size` bytes of fd, as lowercase hex. */
static int sha256_fd(zwork *w, uint64_t size, char hex[65]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[32];
  unsigned mdlen = 0, i;
  uint64_t off = 0;
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  while (ok && off < size) {
    size_t want = size - off < ZIP_CHUNK ? (size_t)(size - off) : ZIP_CHUNK;
    ssize_t n = pread_full(w->out.fd, w->in, want, off);
    if (n <= 0) {
      if (n == 0) errno = EIO;
      EVP_MD_CTX_free(ctx);
      return fail_errno(w, w->tmp);
    }
    ok = EVP_DigestUpdate(ctx, w->in, (size_t)n) == 1;
    off += (uint64_t)n;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail_msg(w, "zip: sha256 failed");
  for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

/* Writes the whole archive to <path>.tmp-<pid> and renames it over path. */
static int zw_write(LZipW *zw, zwork *w, char hex[65], uint64_t *size) {
  unsigned dtime, ddate;
  unsigned char end[22];
  uint64_t cdoff;
  size_t i, plen = strlen(zw->path);

  if (zw->n > ZIP_MAX_ENTRIES) return fail_msg(w, ZIP_TOO_LARGE);
  if (dos_stamp(&dtime, &ddate, w->err) != 0) return -1;
  if (zw->n > 1) qsort(zw->e, zw->n, sizeof *zw->e, cmp_entry);

  w->tmp = malloc(plen + 32);
  w->out.buf = malloc(ZIP_CHUNK);
  w->in = malloc(ZIP_CHUNK);
  w->zbufout = malloc(ZIP_CHUNK);
  if (!w->tmp || !w->out.buf || !w->in || !w->zbufout) return fail_msg(w, "zip: not enough memory");
  if (deflateInit2(&w->z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail_msg(w, "zip: deflateInit failed");
  w->zinit = 1;

  snprintf(w->tmp, plen + 32, "%s.tmp-%ld", zw->path, (long)getpid());
  w->out.fd = open(w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->out.fd < 0) {
    int e = errno;
    free(w->tmp);
    w->tmp = NULL; /* not ours to unlink */
    errno = e;
    return fail_errno(w, zw->path);
  }

  for (i = 0; i < zw->n; i++)
    if (write_entry(w, &zw->e[i], dtime, ddate) != 0) return -1;

  cdoff = out_pos(&w->out);
  if (cdoff > ZIP_MAX32 || w->cd.n > ZIP_MAX32) return fail_msg(w, ZIP_TOO_LARGE);
  put32(end, SIG_END);
  put16(end + 4, 0);
  put16(end + 6, 0);
  put16(end + 8, (unsigned)zw->n);
  put16(end + 10, (unsigned)zw->n);
  put32(end + 12, (uint32_t)w->cd.n);
  put32(end + 16, (uint32_t)cdoff);
  put16(end + 20, 0); /* no comment */
  if ((w->cd.n > 0 && out_write(&w->out, w->cd.p, w->cd.n) != 0) ||
      out_write(&w->out, end, 22) != 0 || out_flush(&w->out) != 0)
    return fail_errno(w, w->tmp);
  *size = out_pos(&w->out);
  if (ftruncate(w->out.fd, (off_t)*size) != 0 || fchmod(w->out.fd, 0644) != 0)
    return fail_errno(w, w->tmp);
  if (sha256_fd(w, *size, hex) != 0) return -1;
  if (fsync(w->out.fd) != 0) return fail_errno(w, w->tmp);
  if (close(w->out.fd) != 0) {
    w->out.fd = -1;
    return fail_errno(w, w->tmp);
  }
  w->out.fd = -1;
  if (rename(w->tmp, zw->path) != 0) return fail_errno(w, zw->path);
  free(w->tmp);
  w->tmp = NULL;
  return 0;
}

/* ------------------------------------------------------------ the writer */

static LZipW *check_writer(lua_State *L) {
  LZipW *zw = (LZipW *)luaL_checkudata(L, 1, ZIPW);
  if (zw->closed) luaL_error(L, "zip: writer already closed");
  return zw;
}

static void zw_free(LZipW *zw) {
  size_t i;
  for (i = 0; i < zw->n; i++) {
    free(zw->e[i].name);
    free(zw->e[i].src);
  }
  free(zw->e);
  free(zw->path);
  zw->e = NULL;
  zw->path = NULL;
  zw->n = zw->cap = 0;
  zw->closed = 1;
}

/* __gc / __close: discards an unclosed writer without writing anything. */
static int zipw_gc(lua_State *L) {
  LZipW *zw = (LZipW *)luaL_checkudata(L, 1, ZIPW);
  zw_free(zw);
  return 0;
}

static int zipw_tostring(lua_State *L) {
  LZipW *zw = (LZipW *)luaL_checkudata(L, 1, ZIPW);
  if (zw->closed)
    lua_pushliteral(L, ZIPW " (closed)");
  else
    lua_pushfstring(L, ZIPW " (%s, %d entries)", zw->path, (int)zw->n);
  return 1;
}

/* Raises unless name is a valid entry name not yet in the writer (user
 * value: name -> true). */
static void check_new_name(lua_State *L, const char *name, size_t len) {
  const char *why = bad_name(name, len);
  if (why) luaL_error(L, "zip: invalid entry name '%s' (%s)", name, why);
  lua_getiuservalue(L, 1, 1);
  if (lua_getfield(L, -1, name) != LUA_TNIL) luaL_error(L, "zip: duplicate entry '%s'", name);
  lua_pop(L, 2);
}

/* Records an entry; name and src are copied. The data string, if any, is at
 * the top of the stack and is moved into the user value. */
static void add_entry(lua_State *L, LZipW *zw, const char *name, const char *src, int mode,
                      int has_data) {
  zentry *e;
  if (zw->n == zw->cap) {
    size_t cap = zw->cap ? zw->cap * 2 : 16;
    zentry *ne = realloc(zw->e, cap * sizeof *ne);
    if (ne == NULL) luaL_error(L, "zip: not enough memory");
    zw->e = ne;
    zw->cap = cap;
  }
  e = &zw->e[zw->n];
  memset(e, 0, sizeof *e);
  e->name = xstrdup(name);
  e->src = src ? xstrdup(src) : NULL;
  if (e->name == NULL || (src && e->src == NULL)) {
    free(e->name);
    free(e->src);
    luaL_error(L, "zip: not enough memory");
  }
  e->mode = mode;
  e->data = (int)zw->n + 1;
  zw->n++;
  lua_getiuservalue(L, 1, 1); /* [data?, uv] */
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, name);
  if (has_data) {
    lua_rotate(L, -2, 1); /* [uv, data] */
    lua_rawseti(L, -2, e->data);
  }
  lua_pop(L, 1);
}

/* w:add_file(name, src_path [, {mode=}]) -> w (the file is read at close) */
static int zipw_add_file(lua_State *L) {
  LZipW *zw = check_writer(L);
  size_t len;
  const char *name = luaL_checklstring(L, 2, &len);
  const char *src = check_path(L, 3);
  int mode = opt_mode(L, 4, -1);
  check_new_name(L, name, len);
  add_entry(L, zw, name, src, mode, 0);
  lua_settop(L, 1);
  return 1;
}

/* w:add_data(name, data [, {mode=}]) -> w */
static int zipw_add_data(lua_State *L) {
  LZipW *zw = check_writer(L);
  size_t len;
  const char *name = luaL_checklstring(L, 2, &len);
  int mode;
  luaL_checktype(L, 3, LUA_TSTRING);
  mode = opt_mode(L, 4, 0644);
  check_new_name(L, name, len);
  lua_pushvalue(L, 3);
  add_entry(L, zw, name, NULL, mode, 1);
  lua_settop(L, 1);
  return 1;
}

/* True when a relative path from the walk is Python bytecode to leave out. */
static int skip_path(const char *rel) {
  size_t len = strlen(rel);
  const char *p = rel;
  if (len >= 4 && strcmp(rel + len - 4, ".pyc") == 0) return 1;
  while (p) {
    if (strncmp(p, "__pycache__", 11) == 0 && (p[11] == '/' || p[11] == '\0')) return 1;
    p = strchr(p, '/');
    if (p) p++;
  }
  return 0;
}

/* w:add_tree(dir [, prefix = ""]) -> w | nil, err. Adds every file under dir
 * (fs.walk order) as prefix .. "/" .. relative path (no "/" when prefix is
 * empty or already ends in one), skipping __pycache__ folders and *.pyc. */
static int zipw_add_tree(lua_State *L) {
  LZipW *zw = check_writer(L);
  const char *dir = check_path(L, 2);
  size_t plen;
  const char *prefix = luaL_optlstring(L, 3, "", &plen);
  int sep = plen > 0 && prefix[plen - 1] != '/';
  lua_Integer i, n;
  luaL_argcheck(L, strlen(prefix) == plen, 3, "prefix contains a NUL byte");
  lua_settop(L, 3);
  luaL_requiref(L, "host.fs", luaopen_host_fs, 0); /* [.., fs] */
  lua_getfield(L, -1, "walk");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 3); /* [.., fs, paths | nil, err, code] */
  if (lua_isnil(L, 5)) {
    const char *err = lua_tostring(L, 6);
    luaL_pushfail(L);
    lua_pushfstring(L, "zip: %s", err && strncmp(err, "fs: ", 4) == 0 ? err + 4 : err);
    lua_pushvalue(L, 7);
    return 3;
  }
  lua_settop(L, 5); /* [w, dir, prefix, fs, paths] */
  n = luaL_len(L, 5);
  lua_newtable(L); /* [.., paths, names] */
  /* validate every name first so a refusal adds nothing */
  for (i = 1; i <= n; i++) {
    const char *rel, *name;
    size_t nlen;
    lua_rawgeti(L, 5, i);
    rel = lua_tostring(L, -1);
    if (rel == NULL || skip_path(rel)) {
      lua_pop(L, 1);
      continue;
    }
    name = lua_pushfstring(L, "%s%s%s", prefix, sep ? "/" : "", rel);
    nlen = lua_rawlen(L, -1);
    check_new_name(L, name, nlen);
    lua_rawseti(L, 6, i); /* names[i] = name */
    lua_pop(L, 1);
  }
  for (i = 1; i <= n; i++) {
    const char *name, *src;
    if (lua_rawgeti(L, 6, i) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    name = lua_tostring(L, -1);
    lua_rawgeti(L, 5, i);
    src = lua_pushfstring(L, "%s/%s", dir, lua_tostring(L, -1));
    add_entry(L, zw, name, src, -1, 0);
    lua_pop(L, 3);
  }
  lua_settop(L, 1);
  return 1;
}

/* w:close() -> {sha256=, size=, entries=} | nil, err. Raises if already closed. */
static int zipw_close(lua_State *L) {
  LZipW *zw = check_writer(L);
  zwork *w;
  char hex[65];
  uint64_t size = 0;
  size_t i;
  int rc;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* [w, uv] */
  for (i = 0; i < zw->n; i++) {
    if (zw->e[i].src) continue;
    lua_rawgeti(L, 2, zw->e[i].data); /* the string stays anchored in uv */
    zw->e[i].dptr = lua_tolstring(L, -1, &zw->e[i].dlen);
    lua_pop(L, 1);
  }
  zw->closed = 1; /* from here on, a second close raises */
  w = calloc(1, sizeof *w);
  if (w == NULL) {
    zw_free(zw);
    return luaL_error(L, "zip: not enough memory");
  }
  w->out.fd = w->infd = -1;
  rc = zw_write(zw, w, hex, &size);
  zw_cleanup(w);
  {
    size_t n = zw->n;
    char err[ZIP_ERRSZ];
    if (rc != 0) memcpy(err, w->err, sizeof err);
    free(w);
    zw_free(zw);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1); /* let the data strings go */
    if (rc != 0) {
      luaL_pushfail(L);
      lua_pushstring(L, err);
      return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, hex);
    lua_setfield(L, -2, "sha256");
    lua_pushinteger(L, (lua_Integer)size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)n);
    lua_setfield(L, -2, "entries");
    return 1;
  }
}

/* zip.writer(path) -> writer */
static int zip_writer(lua_State *L) {
  const char *path = check_path(L, 1);
  LZipW *zw = (LZipW *)lua_newuserdatauv(L, sizeof *zw, 1);
  memset(zw, 0, sizeof *zw);
  zw->closed = 1; /* until it owns its path */
  luaL_setmetatable(L, ZIPW);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  zw->path = xstrdup(path);
  if (zw->path == NULL) return luaL_error(L, "zip: not enough memory");
  zw->closed = 0;
  return 1;
}

/* ------------------------------------------------------------ the reader */

/* Releases everything a reader holds (idempotent). */
static void reader_release(LZipR *r) {
  if (r->fd >= 0) close(r->fd);
  if (r->outfd >= 0) close(r->outfd);
  if (r->dirfd >= 0 && r->dirfd != r->rootfd) close(r->dirfd);
  if (r->rootfd >= 0) close(r->rootfd);
  if (r->zinit) inflateEnd(&r->z);
  free(r->cd);
  free(r->in);
  free(r->outb);
  free(r->ents);
  memset(r, 0, sizeof *r);
  r->fd = r->outfd = r->rootfd = r->dirfd = -1;
}

static int reader_gc(lua_State *L) {
  reader_release((LZipR *)luaL_checkudata(L, 1, ZIPR));
  return 0;
}

static LZipR *new_reader(lua_State *L) {
  LZipR *r = (LZipR *)lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  r->fd = r->outfd = r->rootfd = r->dirfd = -1;
  luaL_setmetatable(L, ZIPR);
  return r;
}

/* Opens path and parses its central directory into r; err on failure. */
static int read_central(LZipR *r, const char *path, char *err) {
  struct stat st;
  unsigned char *tail;
  size_t tlen, i, pos;
  ssize_t got;
  uint64_t size, cdsize, eocd = 0;
  unsigned nents;
  int found = 0;
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0 || fstat(r->fd, &st) != 0) goto sys;
  if (!S_ISREG(st.st_mode)) {
    errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    goto sys;
  }
  size = (uint64_t)st.st_size;
  r->in = malloc(ZIP_CHUNK); /* >= 22 + 65535: the end record and its comment */
  if (r->in == NULL) {
    errno = ENOMEM;
    goto sys;
  }
  tail = r->in;
  tlen = size < 22 + 65535 ? (size_t)size : 22 + 65535;
  got = pread_full(r->fd, tail, tlen, size - tlen);
  if (got < 0) goto sys;
  for (i = tlen >= 22 ? tlen - 22 + 1 : 0; i-- > 0;) {
    if (get32(tail + i) == SIG_END && i + 22 + get16(tail + i + 20) == tlen) {
      found = 1;
      eocd = size - tlen + i;
      break;
    }
  }
  if (!found) {
    snprintf(err, ZIP_ERRSZ, "zip: %s: not a zip archive (no end of central directory)", path);
    return -1;
  }
  {
    const unsigned char *e = tail + (eocd - (size - tlen));
    nents = get16(e + 10);
    cdsize = get32(e + 12);
    r->cdoff = get32(e + 16);
    if (nents == 0xFFFF || cdsize == 0xFFFFFFFF || r->cdoff == 0xFFFFFFFF) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: ZIP64 archives are not supported", path);
      return -1;
    }
    if (get16(e + 4) != 0 || get16(e + 6) != 0 || get16(e + 8) != nents) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: multi-disk archives are not supported", path);
      return -1;
    }
  }
  if (r->cdoff + cdsize > eocd) goto corrupt;
  r->cd = malloc(cdsize ? (size_t)cdsize : 1);
  r->ents = calloc(nents ? nents : 1, sizeof *r->ents);
  if (r->cd == NULL || r->ents == NULL) {
    errno = ENOMEM;
    goto sys;
  }
  got = pread_full(r->fd, r->cd, (size_t)cdsize, r->cdoff);
  if (got < 0) goto sys;
  if ((uint64_t)got != cdsize) goto corrupt;
  for (pos = 0, i = 0; i < nents; i++) {
    const unsigned char *c = r->cd + pos;
    zcent *z = &r->ents[i];
    size_t rec;
    if (pos + 46 > cdsize || get32(c) != SIG_CENTRAL) goto corrupt;
    rec = 46 + (size_t)get16(c + 28) + get16(c + 30) + get16(c + 32);
    if (pos + rec > cdsize) goto corrupt;
    z->made_by = get16(c + 4);
    z->flags = get16(c + 8);
    z->method = get16(c + 10);
    z->crc = get32(c + 16);
    z->csize = get32(c + 20);
    z->usize = get32(c + 24);
    z->namelen = get16(c + 28);
    z->ext = get32(c + 38);
    z->lhoff = get32(c + 42);
    z->name = c + 46;
    if (z->csize == 0xFFFFFFFF || z->usize == 0xFFFFFFFF || z->lhoff == 0xFFFFFFFF) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: ZIP64 archives are not supported", path);
      return -1;
    }
    pos += rec;
  }
  r->nents = nents;
  return 0;
sys:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s", path, strerror(errno));
  return -1;
corrupt:
  snprintf(err, ZIP_ERRSZ, "zip: %s: corrupt central directory", path);
  return -1;
}

/* Permission bits of an entry: from Unix external attributes, else 0644. */
static unsigned ent_mode(const zcent *z) {
  unsigned m = (z->ext >> 16) & 0777;
  if ((z->made_by >> 8) != 3 || m == 0) return 0644;
  return m;
}

static int ent_is_link(const zcent *z) {
  return (z->made_by >> 8) == 3 && ((z->ext >> 16) & 0170000) == 0120000;
}

/* zip.list(path) -> { {name=, size=, csize=, crc=, method=, mode=}, ... } | nil, err */
static int zip_list(lua_State *L) {
  const char *path = check_path(L, 1);
  LZipR *r = new_reader(L);
  char err[ZIP_ERRSZ];
  size_t i;
  if (read_central(r, path, err) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  close(r->fd);
  r->fd = -1;
  lua_createtable(L, (int)r->nents, 0);
  for (i = 0; i < r->nents; i++) {
    const zcent *z = &r->ents[i];
    lua_createtable(L, 0, 6);
    lua_pushlstring(L, (const char *)z->name, z->namelen);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)z->usize);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)z->csize);
    lua_setfield(L, -2, "csize");
    lua_pushinteger(L, (lua_Integer)z->crc);
    lua_setfield(L, -2, "crc");
    lua_pushinteger(L, (lua_Integer)z->method);
    lua_setfield(L, -2, "method");
    lua_pushinteger(L, (lua_Integer)ent_mode(z));
    lua_setfield(L, -2, "mode");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Why an archive name may not be extracted, or NULL (names are literal
 * on POSIX: only absolute paths and ".." segments can escape). Also counts
 * the folders the name nests into, in *depth. */
static const char *unsafe_name(const unsigned char *name, size_t len, unsigned *depth) {
  size_t i, seg = 0;
  *depth = 0;
  if (len == 0) return "empty name";
  if (memchr(name, '\0', len)) return "NUL byte";
  if (name[0] == '/') return "absolute path";
  for (i = 0; i <= len; i++) {
    if (i < len && name[i] != '/') continue;
    if (i - seg == 2 && name[seg] == '.' && name[seg + 1] == '.') return "'..' segment";
    if (i < len && i > seg && !(i - seg == 1 && name[seg] == '.')) ++*depth;
    seg = i + 1;
  }
  if (*depth > ZIP_MAX_DEPTH) return "nested more than " ZIP_STR(ZIP_MAX_DEPTH) " folders deep";
  return NULL;
}

/* mkdir -p of dir (a writable copy). *made is the length of the first
 * prefix of p this call created (0 when it created nothing), for rmdir_made. */
static int mkdir_p(char *p, size_t *made) {
  size_t len = strlen(p), i;
  struct stat st;
  *made = 0;
  for (i = 1; i <= len; i++) {
    if (i < len && p[i] != '/') continue;
    p[i] = '\0';
    if (mkdir(p, 0755) != 0) {
      int e = errno;
      if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (i < len) p[i] = '/';
        continue;
      }
      errno = e == EEXIST ? ENOTDIR : e;
      if (i < len) p[i] = '/';
      return -1;
    }
    if (*made == 0) *made = i;
    if (i < len) p[i] = '/';
  }
  return 0;
}

/* Removes the folders mkdir_p created (p as it was given, made from it);
 * stops at the first one that is not empty. Best effort. */
static void rmdir_made(char *p, size_t made) {
  size_t len = strlen(p);
  while (made > 0 && len >= made) {
    p[len] = '\0';
    if (rmdir(p) != 0) return;
    while (len > 0 && p[len - 1] != '/') len--;
    while (len > 0 && p[len - 1] == '/') len--;
  }
}

/* Opens (creating) the parent directories of name under r->rootfd without
 * following symlinks; leaves the parent in r->dirfd and returns the last
 * component ("" for a directory entry). On failure returns NULL with name
 * cut after the component that failed, so the message names it. */
static const char *open_parent(LZipR *r, char *name) {
  char *p = name, *slash;
  r->dirfd = r->rootfd;
  while ((slash = strchr(p, '/')) != NULL) {
    int fd;
    *slash = '\0';
    if (*p != '\0' && strcmp(p, ".") != 0) {
      if (mkdirat(r->dirfd, p, 0755) != 0 && errno != EEXIST) return NULL;
      fd = openat(r->dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return NULL;
      if (r->dirfd != r->rootfd) close(r->dirfd);
      r->dirfd = fd;
    }
    *slash = '/';
    p = slash + 1;
  }
  return p;
}

/* Orders local ranges by their start. */
typedef struct {
  uint64_t start, end;
  size_t i;
} zrange;

static int range_cmp(const void *a, const void *b) {
  const zrange *x = a, *y = b;
  if (x->start != y->start) return x->start < y->start ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

#define ENT(z) (int)(z)->namelen, (const char *)(z)->name

/* Refuses, before anything is written, what extraction would not survive:
 * unsafe names, encrypted or unknown entries, symlinks, declared sizes over
 * the budget, bad local headers and entries whose local header + data
 * overlap another's (several records sharing bytes: a zip bomb). Sets each
 * entry's data offset. */
static int check_entries(LZipR *r, const char *path, char *err) {
  zrange *rg;
  uint64_t declared = 0;
  size_t i, far = 0;
  for (i = 0; i < r->nents; i++) {
    const zcent *z = &r->ents[i];
    unsigned depth;
    const char *why = unsafe_name(z->name, z->namelen, &depth);
    if (why) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: unsafe entry name '%.*s' (%s)", path, ENT(z), why);
      return -1;
    }
    if (z->flags & 1) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: encrypted entries are not supported", path, ENT(z));
      return -1;
    }
    if (z->method != 0 && z->method != 8) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: unsupported compression method %u", path, ENT(z),
               z->method);
      return -1;
    }
    if (ent_is_link(z)) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: symlink entries are not supported", path, ENT(z));
      return -1;
    }
    if (z->method == 0 && z->csize != z->usize) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: corrupt data", path, ENT(z));
      return -1;
    }
    declared += z->usize;
  }
  if (declared > r->max_total) {
    snprintf(err, ZIP_ERRSZ,
             "zip: %s: entries declare %llu bytes in all, over the extraction budget of %llu "
             "bytes",
             path, (unsigned long long)declared, (unsigned long long)r->max_total);
    return -1;
  }
  rg = malloc((r->nents ? r->nents : 1) * sizeof *rg);
  if (rg == NULL) {
    snprintf(err, ZIP_ERRSZ, "zip: %s: %s", path, strerror(ENOMEM));
    return -1;
  }
  for (i = 0; i < r->nents; i++) {
    zcent *z = &r->ents[i];
    unsigned char lh[30];
    if ((uint64_t)z->lhoff + 30 > r->cdoff || pread_full(r->fd, lh, 30, z->lhoff) != 30 ||
        get32(lh) != SIG_LOCAL) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: bad local header", path, ENT(z));
      free(rg);
      return -1;
    }
    z->doff = (uint64_t)z->lhoff + 30 + get16(lh + 26) + get16(lh + 28);
    if (z->doff + z->csize > r->cdoff) {
      snprintf(err, ZIP_ERRSZ, "zip: %s: %.*s: data beyond the central directory", path, ENT(z));
      free(rg);
      return -1;
    }
    rg[i].start = z->lhoff;
    rg[i].end = z->doff + z->csize;
    rg[i].i = i;
  }
  qsort(rg, r->nents, sizeof *rg, range_cmp);
  for (i = 1; i < r->nents; i++) {
    if (rg[i].start < rg[far].end) {
      const zcent *a = &r->ents[rg[far].i < rg[i].i ? rg[far].i : rg[i].i];
      const zcent *b = &r->ents[rg[far].i < rg[i].i ? rg[i].i : rg[far].i];
      snprintf(err, ZIP_ERRSZ, "zip: %s: entries '%.*s' and '%.*s' overlap in the archive", path,
               ENT(a), ENT(b));
      free(rg);
      return -1;
    }
    if (rg[i].end > rg[far].end) far = i;
  }
  free(rg);
  return 0;
}

/* Inflates (or copies) entry z into r->outfd, counting what it writes
 * against the budget; err on failure. */
static int extract_data(LZipR *r, const zcent *z, const char *path, const char *name, char *err) {
  uint64_t off = z->doff, left = z->csize, total = 0;
  uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
  int rc = Z_OK;
  if (z->method == 8) {
    if (!r->zinit) {
      if (inflateInit2(&r->z, -15) != Z_OK) {
        snprintf(err, ZIP_ERRSZ, "zip: inflateInit failed");
        return -1;
      }
      r->zinit = 1;
    } else if (inflateReset(&r->z) != Z_OK) {
      snprintf(err, ZIP_ERRSZ, "zip: inflateReset failed");
      return -1;
    }
  }
  while (left > 0 || (z->method == 8 && rc != Z_STREAM_END)) {
    size_t want = left < ZIP_CHUNK ? (size_t)left : ZIP_CHUNK;
    ssize_t n = pread_full(r->fd, r->in, want, off);
    if (n < 0) goto sys;
    if ((size_t)n != want) goto corrupt;
    off += want;
    left -= want;
    if (z->method == 0) {
      if (r->written + (uint64_t)n > r->max_total) goto budget;
      crc = (uint32_t)crc32(crc, r->in, (uInt)n);
      if (pwrite_all(r->outfd, r->in, (size_t)n, total) != 0) goto sysout;
      total += (uint64_t)n;
      r->written += (uint64_t)n;
      continue;
    }
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)n;
    do {
      size_t have;
      r->z.next_out = r->outb;
      r->z.avail_out = ZIP_CHUNK;
      rc = inflate(&r->z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && r->z.avail_in == 0))
        goto corrupt;
      have = ZIP_CHUNK - r->z.avail_out;
      if (total + have > z->usize) {
        snprintf(err, ZIP_ERRSZ, "zip: %s: %s: inflates to more than its declared %lu bytes", path,
                 name, (unsigned long)z->usize);
        return -1;
      }
      if (r->written + have > r->max_total) goto budget;
      crc = (uint32_t)crc32(crc, r->outb, (uInt)have);
      if (have > 0 && pwrite_all(r->outfd, r->outb, have, total) != 0) goto sysout;
      total += have;
      r->written += have;
    } while (r->z.avail_out == 0 && rc != Z_STREAM_END);
    if (rc != Z_STREAM_END && left == 0 && r->z.avail_in == 0 && r->z.avail_out != 0) goto corrupt;
  }
  if (total != z->usize || crc != z->crc) {
    snprintf(err, ZIP_ERRSZ, "zip: %s: %s: CRC or size mismatch", path, name);
    return -1;
  }
  return 0;
sys:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s", path, strerror(errno));
  return -1;
sysout:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s", name, strerror(errno));
  return -1;
corrupt:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s: corrupt data", path, name);
  return -1;
budget:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s: over the extraction budget of %llu bytes", path, name,
           (unsigned long long)r->max_total);
  return -1;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder fd, sorted (byte order); NULL with errno set on
 * failure. Frees with free_names. */
static char **read_names(int fd, size_t *n) {
  DIR *d;
  struct dirent *de;
  char **v = NULL;
  size_t cap = 0, i;
  int e, dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *n = 0;
  if (dup_fd < 0) return NULL;
  d = fdopendir(dup_fd);
  if (d == NULL) {
    close(dup_fd);
    return NULL;
  }
  for (;;) {
    errno = 0;
    de = readdir(d);
    if (de == NULL) break;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (*n + 1 >= cap) {
      char **q = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
      if (q == NULL) goto fail;
      v = q;
    }
    if ((v[*n] = xstrdup(de->d_name)) == NULL) goto fail;
    ++*n;
  }
  if (errno != 0) goto fail;
  closedir(d);
  if (v == NULL && (v = malloc(sizeof *v)) == NULL) return NULL;
  qsort(v, *n, sizeof *v, name_cmp);
  return v;
fail:
  e = errno ? errno : ENOMEM;
  for (i = 0; i < *n; i++) free(v[i]);
  free(v);
  closedir(d);
  errno = e;
  return NULL;
}

static void free_names(char **v, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* Removes name (a file or a folder tree, symlinks not followed) from the
 * folder dirfd. */
static int remove_at(int dirfd, const char *name) {
  char **v;
  size_t n, i;
  int fd, rc = 0;
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return -1;
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  v = read_names(fd, &n);
  if (v == NULL) rc = -1;
  for (i = 0; rc == 0 && i < n; i++) rc = remove_at(fd, v[i]);
  if (v) free_names(v, n);
  close(fd);
  if (rc == 0) rc = unlinkat(dirfd, name, AT_REMOVEDIR);
  return rc;
}

/* Moves the tree in folder src into folder dst, merging folders that exist
 * in both; an existing file is replaced (rename: never written through).
 * With check set, moves nothing and only refuses what the move would meet:
 * a symlink or a non-folder where a folder goes, a folder or a symlink where
 * a file goes. rel (capacity ZIP_RELSZ) holds the path under dst, for
 * messages. */
static int merge_tree(int src, int dst, char *rel, size_t rlen, int check) {
  char **v;
  size_t n, i;
  int rc = 0;
  v = read_names(src, &n);
  if (v == NULL) return -1;
  for (i = 0; rc == 0 && i < n; i++) {
    const char *name = v[i];
    struct stat ss, ds;
    int have;
    size_t nlen = strlen(name);
    if (rlen + 1 + nlen >= ZIP_RELSZ) {
      errno = ENAMETOOLONG;
      rc = -1;
      break;
    }
    if (rlen > 0) rel[rlen] = '/';
    memcpy(rel + rlen + (rlen > 0), name, nlen + 1);
    if (fstatat(src, name, &ss, AT_SYMLINK_NOFOLLOW) != 0) {
      rc = -1;
      break;
    }
    have = fstatat(dst, name, &ds, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have && errno != ENOENT) {
      rc = -1;
      break;
    }
    if (S_ISDIR(ss.st_mode) && have) {
      int sfd, dfd;
      if (!S_ISDIR(ds.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
        break;
      }
      sfd = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      dfd = sfd < 0 ? -1 : openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      rc = dfd < 0 ? -1 : merge_tree(sfd, dfd, rel, rlen + (rlen > 0) + nlen, check);
      if (sfd >= 0) close(sfd);
      if (dfd >= 0) close(dfd);
      continue;
    }
    if (have && !S_ISDIR(ss.st_mode) && !S_ISREG(ds.st_mode)) {
      errno = S_ISDIR(ds.st_mode) ? EISDIR : S_ISLNK(ds.st_mode) ? ELOOP : EEXIST;
      rc = -1;
      break;
    }
    if (!check && renameat(src, name, dst, name) != 0) rc = -1;
  }
  if (rc == 0) rel[rlen] = '\0';
  {
    int e = errno;
    free_names(v, n);
    errno = e;
  }
  return rc;
}

/* Extracts every entry of r into a fresh temporary folder inside dir
 * (created if need be), then moves the tree into dir; err on failure. */
static int extract_tree(LZipR *r, const char *path, const char *dir, char *err) {
  size_t i;
  char *name = NULL;
  for (i = 0; i < r->nents; i++) {
    const zcent *z = &r->ents[i];
    const char *last;
    name = malloc(z->namelen + 1);
    if (name == NULL) goto sysdir;
    memcpy(name, z->name, z->namelen);
    name[z->namelen] = '\0';
    last = open_parent(r, name);
    if (last == NULL) goto sysent;
    if (*last != '\0' && strcmp(last, ".") != 0) {
      r->outfd =
          openat(r->dirfd, last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (r->outfd < 0) goto sysent;
      if (extract_data(r, z, path, name, err) != 0) {
        free(name);
        return -1;
      }
      if (fchmod(r->outfd, ent_mode(z)) != 0 || close(r->outfd) != 0) {
        r->outfd = -1;
        goto sysent;
      }
      r->outfd = -1;
    }
    if (r->dirfd != r->rootfd) close(r->dirfd);
    r->dirfd = -1;
    free(name);
    name = NULL;
  }
  return 0;
sysdir:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s", dir, strerror(errno ? errno : ENOMEM));
  return -1;
sysent:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s: %s", path, name, strerror(errno));
  free(name);
  return -1;
}

/* Checks r, extracts it into a temporary folder inside dir, moves the tree
 * into dir; on failure removes the temporary folder and the folders it
 * created for dir; err on failure. */
static int extract_all(LZipR *r, const char *path, const char *dir, char *err) {
  char *dcopy = NULL, *tmp = NULL, *rel = NULL;
  const char *tname;
  size_t made = 0;
  int dfd = -1, rc = -1;
  if (check_entries(r, path, err) != 0) return -1;
  dcopy = xstrdup(dir);
  tmp = malloc(strlen(dir) + sizeof "/" ZIP_TMP "XXXXXX");
  rel = malloc(ZIP_RELSZ);
  r->outb = malloc(ZIP_CHUNK);
  if (dcopy == NULL || tmp == NULL || rel == NULL || r->outb == NULL) {
    errno = ENOMEM;
    goto sysdir;
  }
  if (mkdir_p(dcopy, &made) != 0) goto sysdir;
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) goto sysdir;
  strcpy(tmp, dir);
  strcat(tmp, "/" ZIP_TMP "XXXXXX");
  if (mkdtemp(tmp) == NULL) {
    tmp[0] = '\0';
    goto sysdir;
  }
  tname = strrchr(tmp, '/') + 1;
  r->rootfd = openat(dfd, tname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r->rootfd < 0) goto sysdir;
  if (extract_tree(r, path, dir, err) != 0) goto out;
  rel[0] = '\0';
  if (merge_tree(r->rootfd, dfd, rel, 0, 1) != 0 || merge_tree(r->rootfd, dfd, rel, 0, 0) != 0) {
    snprintf(err, ZIP_ERRSZ, "zip: %s/%s: %s", dir, rel, strerror(errno));
    goto out;
  }
  rc = 0;
  goto out;
sysdir:
  snprintf(err, ZIP_ERRSZ, "zip: %s: %s", dir, strerror(errno));
out:
  if (r->dirfd >= 0 && r->dirfd != r->rootfd) close(r->dirfd);
  if (r->rootfd >= 0) close(r->rootfd);
  r->dirfd = r->rootfd = -1;
  if (tmp && tmp[0] != '\0' && dfd >= 0 && remove_at(dfd, strrchr(tmp, '/') + 1) != 0 && rc == 0) {
    snprintf(err, ZIP_ERRSZ, "zip: %s: %s", tmp, strerror(errno));
    rc = -1;
  }
  if (dfd >= 0) close(dfd);
  if (rc != 0 && dcopy) rmdir_made(dcopy, made);
  free(dcopy);
  free(tmp);
  free(rel);
  return rc;
}

/* The extraction budget from an options table {max_total=} at idx. */
static uint64_t opt_max_total(lua_State *L, int idx) {
  lua_Integer n = 0;
  if (lua_isnoneornil(L, idx)) return ZIP_MAX_TOTAL;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "max_total") != 0) {
      lua_pop(L, 1);
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
    }
    lua_pop(L, 1);
  }
  if (lua_getfield(L, idx, "max_total") == LUA_TNIL) {
    lua_pop(L, 1);
    return ZIP_MAX_TOTAL;
  }
  if (!lua_isinteger(L, -1) || (n = lua_tointeger(L, -1)) < 0)
    luaL_argerror(L, idx, "max_total must be a non-negative integer (bytes)");
  lua_pop(L, 1);
  return (uint64_t)n;
}

/* zip.extract(path, dir [, {max_total = bytes}]) -> true | nil, err.
 * Refuses, before writing anything: names that are absolute or have ".."
 * segments (or nest deeper than ZIP_MAX_DEPTH folders), encrypted,
 * symlink and unknown-method entries, entries whose local header + data
 * overlap another's, and archives whose declared sizes add up to more than
 * max_total (default ZIP_MAX_TOTAL, 512 MiB). While inflating, an entry may
 * not grow past its declared size nor the archive past max_total, and each
 * entry's CRC and size must match. Extracts into a temporary folder inside
 * dir and moves the tree into dir only when every entry succeeded (merging
 * with folders already there, replacing files); on any refusal dir is left
 * as it was (and removed again if this call created it). Never follows a
 * symlink met under dir; applies each entry's permission bits. */
static int zip_extract(lua_State *L) {
  const char *path = check_path(L, 1);
  const char *dir = check_path(L, 2);
  uint64_t max_total = opt_max_total(L, 3);
  LZipR *r = new_reader(L);
  char err[ZIP_ERRSZ];
  int rc = read_central(r, path, err);
  r->max_total = max_total;
  if (rc == 0) rc = extract_all(r, path, dir, err);
  reader_release(r); /* now, not at the next GC cycle */
  if (rc != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------------- registry */

static const luaL_Reg zip_funcs[] = {
    {"writer", zip_writer}, {"list", zip_list}, {"extract", zip_extract}, {NULL, NULL}};

static const luaL_Reg zipw_meths[] = {{"add_file", zipw_add_file},
                                      {"add_data", zipw_add_data},
                                      {"add_tree", zipw_add_tree},
                                      {"close", zipw_close},
                                      {NULL, NULL}};

static const luaL_Reg zipw_metas[] = {{"__index", NULL},
                                      {"__gc", zipw_gc},
                                      {"__close", zipw_gc},
                                      {"__tostring", zipw_tostring},
                                      {NULL, NULL}};

static const luaL_Reg reader_metas[] = {{"__gc", reader_gc}, {NULL, NULL}};

int luaopen_host_zip(lua_State *L) {
  luaL_newmetatable(L, ZIPW);
  luaL_setfuncs(L, zipw_metas, 0);
  luaL_newlibtable(L, zipw_meths);
  luaL_setfuncs(L, zipw_meths, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, ZIPR);
  luaL_setfuncs(L, reader_metas, 0);
  lua_pop(L, 1);
  luaL_newlib(L, zip_funcs);
  return 1;
}
