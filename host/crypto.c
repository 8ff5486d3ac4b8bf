/*
 * host.crypto -- hashing, HMAC and encodings for SigV4 and S3 (OpenSSL 3).
 *
 *   crypto.sha256(s) -> 32-byte raw          crypto.sha256_hex(s) -> 64 hex
 *   crypto.hmac_sha256(key, msg) -> raw      crypto.hmac_sha256_hex(key, msg) -> hex
 *   crypto.md5(s) -> raw                     crypto.md5_base64(s) -> base64 (Content-MD5)
 *   crypto.base64_encode(s) -> string        crypto.base64_decode(s) -> string | nil, err
 *   crypto.hex_encode(s) -> string           crypto.hex_decode(s) -> string | nil, err
 *   crypto.sha256_file(path) -> hex, size | nil, err
 *   crypto.sha256_new() -> hasher            crypto.random(n) -> n bytes
 *   crypto.equal(a, b) -> boolean
 *
 * Every function is binary safe. Wrong argument types raise. Failures of
 * OpenSSL itself (e.g. MD5 refused by a FIPS provider, an empty entropy pool)
 * and of the file system return nil, "crypto: <reason>". Hashing uses the
 * EVP interface only (no deprecated SHA256_* / HMAC_CTX calls). No Lua call
 * can raise while an OpenSSL object is owned by a C local: the only long-lived
 * object, the streaming hasher's EVP_MD_CTX, lives in a userdata created first.
 */
#define _POSIX_C_SOURCE 200809L /* open, read, O_CLOEXEC */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "host.h"

#define HASHER "lakehost.crypto.sha256" /* shown by luaL_typeerror */

#define FILE_CHUNK (64 * 1024)
#define RANDOM_MAX 1024

/* Streaming SHA-256. states: open (ctx != NULL, !done), finalised (done,
 * digest kept so :hex()/:digest() may be repeated), closed (ctx == NULL,
 * !done: __close/__gc ran before it was finalised). */
typedef struct {
  EVP_MD_CTX *ctx;
  int done;
  unsigned char digest[32];
} Hasher;

static const char hexdigits[] = "0123456789abcdef";
static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Pushes nil, "crypto: <first queued OpenSSL error>" and clears the queue. */
static int pushsslerror(lua_State *L) {
  char buf[256];
  unsigned long e = ERR_get_error();
  if (e == 0) {
    snprintf(buf, sizeof buf, "unknown OpenSSL failure");
  } else {
    ERR_error_string_n(e, buf, sizeof buf);
  }
  ERR_clear_error();
  luaL_pushfail(L);
  lua_pushfstring(L, "crypto: %s", buf);
  return 2;
}

void lakehost_hex(const unsigned char *in, size_t n, char *out) {
  size_t i;
  for (i = 0; i < n; i++) {
    out[2 * i] = hexdigits[in[i] >> 4];
    out[2 * i + 1] = hexdigits[in[i] & 15];
  }
}

static void pushhex(lua_State *L, const unsigned char *s, size_t n) {
  luaL_Buffer b;
  lakehost_hex(s, n, luaL_buffinitsize(L, &b, n * 2));
  luaL_pushresultsize(&b, n * 2);
}

/* One-shot digest of s with md into out (EVP_MAX_MD_SIZE); 1 on success. */
static int digest(const EVP_MD *md, const char *s, size_t n, unsigned char *out,
                  unsigned int *outlen) {
  return md != NULL && EVP_Digest(s, n, out, outlen, md, NULL) == 1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

static void pushbase64(lua_State *L, const unsigned char *s, size_t n) {
  luaL_Buffer b;
  size_t outn = (n + 2) / 3 * 4, i, o = 0;
  char *out = luaL_buffinitsize(L, &b, outn);
  for (i = 0; i + 2 < n; i += 3) {
    unsigned long v = ((unsigned long)s[i] << 16) | ((unsigned long)s[i + 1] << 8) | s[i + 2];
    out[o++] = b64chars[(v >> 18) & 63];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = b64chars[(v >> 6) & 63];
    out[o++] = b64chars[v & 63];
  }
  if (i < n) {
    unsigned long v = (unsigned long)s[i] << 16;
    if (i + 1 < n) v |= (unsigned long)s[i + 1] << 8;
    out[o++] = b64chars[(v >> 18) & 63];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = (i + 1 < n) ? b64chars[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  luaL_pushresultsize(&b, outn);
}

static Hasher *checkhasher(lua_State *L) {
  Hasher *h = (Hasher *)luaL_checkudata(L, 1, HASHER);
  if (h->done) luaL_error(L, "sha256 hasher already finalised");
  if (h->ctx == NULL) luaL_error(L, "sha256 hasher is closed");
  return h;
}

/* hasher:__gc() / hasher:__close() -- idempotent */
static int hasher_gc(lua_State *L) {
  Hasher *h = (Hasher *)luaL_checkudata(L, 1, HASHER);
  if (h->ctx != NULL) {
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
  }
  return 0;
}

/* hasher:__tostring() -> "lakehost.crypto.sha256 (open|finalised|closed)" */
static int hasher_tostring(lua_State *L) {
  Hasher *h = (Hasher *)luaL_checkudata(L, 1, HASHER);
  lua_pushfstring(L, "%s (%s)", HASHER, h->done ? "finalised" : h->ctx ? "open" : "closed");
  return 1;
}

/* hasher:update(s) -> hasher | nil, err */
static int hasher_update(lua_State *L) {
  Hasher *h = checkhasher(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (EVP_DigestUpdate(h->ctx, s, n) != 1) return pushsslerror(L);
  lua_settop(L, 1);
  return 1;
}

/* Finalises once (freeing the context) and keeps the digest; 1 on success. */
static int hasher_finish(lua_State *L, Hasher **out) {
  Hasher *h = (Hasher *)luaL_checkudata(L, 1, HASHER);
  unsigned int len = 0;
  *out = h;
  if (h->done) return 1;
  h = checkhasher(L);
  if (EVP_DigestFinal_ex(h->ctx, h->digest, &len) != 1 || len != sizeof h->digest) return 0;
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
  h->done = 1;
  return 1;
}

/* hasher:digest() -> 32-byte raw | nil, err (finalises; may be repeated) */
static int hasher_digest(lua_State *L) {
  Hasher *h;
  if (!hasher_finish(L, &h)) return pushsslerror(L);
  lua_pushlstring(L, (const char *)h->digest, sizeof h->digest);
  return 1;
}

/* hasher:hex() -> 64 hex | nil, err (finalises; may be repeated) */
static int hasher_hex(lua_State *L) {
  Hasher *h;
  if (!hasher_finish(L, &h)) return pushsslerror(L);
  pushhex(L, h->digest, sizeof h->digest);
  return 1;
}

static void pushraw(lua_State *L, const unsigned char *s, size_t n) {
  lua_pushlstring(L, (const char *)s, n);
}

/* The digest of the string argument #1, pushed by push (raw, hex, base64);
 * the body of crypto.sha256, sha256_hex, md5 and md5_base64. */
static int digest_string(lua_State *L, const EVP_MD *type,
                         void (*push)(lua_State *, const unsigned char *, size_t)) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!digest(type, s, n, md, &len)) return pushsslerror(L);
  push(L, md, len);
  return 1;
}

/* crypto.sha256(s) -> 32-byte raw | nil, err */
static int crypto_sha256(lua_State *L) { return digest_string(L, EVP_sha256(), pushraw); }

/* crypto.sha256_hex(s) -> 64 lowercase hex | nil, err */
static int crypto_sha256_hex(lua_State *L) { return digest_string(L, EVP_sha256(), pushhex); }

/* HMAC-SHA256 of the strings at 1 and 2 into out; 1 on success. */
static int hmac(lua_State *L, unsigned char *out, unsigned int *outlen) {
  size_t kn, mn;
  const char *key = luaL_checklstring(L, 1, &kn);
  const char *msg = luaL_checklstring(L, 2, &mn);
  /* HMAC() treats a NULL key specially; Lua strings never give NULL, and an
   * empty key is a valid (if weak) HMAC key. kn fits int: keys are short,
   * but guard anyway since HMAC() takes an int. */
  if (kn > (size_t)0x7fffffff) return 0;
  return HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, mn, out, outlen) != NULL;
}

/* crypto.hmac_sha256(key, msg) -> 32-byte raw | nil, err */
static int crypto_hmac_sha256(lua_State *L) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!hmac(L, md, &len)) return pushsslerror(L);
  lua_pushlstring(L, (const char *)md, len);
  return 1;
}

/* crypto.hmac_sha256_hex(key, msg) -> 64 lowercase hex | nil, err */
static int crypto_hmac_sha256_hex(lua_State *L) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!hmac(L, md, &len)) return pushsslerror(L);
  pushhex(L, md, len);
  return 1;
}

/* crypto.md5(s) -> 16-byte raw | nil, err */
static int crypto_md5(lua_State *L) { return digest_string(L, EVP_md5(), pushraw); }

/* crypto.md5_base64(s) -> base64 of the MD5 (S3 Content-MD5) | nil, err */
static int crypto_md5_base64(lua_State *L) { return digest_string(L, EVP_md5(), pushbase64); }

/* crypto.base64_encode(s) -> string (RFC 4648 alphabet, padded, one line) */
static int crypto_base64_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  pushbase64(L, (const unsigned char *)s, n);
  return 1;
}

/*
 * crypto.base64_decode(s) -> string | nil, "crypto: invalid base64"
 * Strict RFC 4648 section 4: only the standard alphabet, no whitespace, '='
 * only as the final one or two characters of a length divisible by 4. The
 * unpadded form (length % 4 == 2 or 3) is accepted too. Non-zero bits in the
 * last character before the padding are refused (section 3.5), so every
 * accepted string is the canonical encoding of its result.
 */
static int crypto_base64_decode(lua_State *L) {
  size_t n, i, o = 0, pad = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *out;
  unsigned long acc = 0;
  int bits = 0;
  if (n > 0 && s[n - 1] == '=') pad++;
  if (n > 1 && s[n - 2] == '=') pad++;
  if (pad > 0 && n % 4 != 0) goto invalid;
  n -= pad;
  if (n % 4 == 1) goto invalid;
  out = luaL_buffinitsize(L, &b, n / 4 * 3 + 2);
  for (i = 0; i < n; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0) goto invalid;
    acc = (acc << 6) | (unsigned long)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1ul << bits) - 1)) != 0) goto invalid;
  luaL_pushresultsize(&b, o);
  return 1;
invalid:
  luaL_pushfail(L);
  lua_pushliteral(L, "crypto: invalid base64");
  return 2;
}

/* crypto.hex_encode(s) -> lowercase hex */
static int crypto_hex_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  pushhex(L, (const unsigned char *)s, n);
  return 1;
}

/* crypto.hex_decode(s) -> string | nil, "crypto: invalid hex" (either case, even length) */
static int crypto_hex_decode(lua_State *L) {
  size_t n, i;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *out;
  if (n % 2 != 0) goto invalid;
  out = luaL_buffinitsize(L, &b, n / 2);
  for (i = 0; i < n; i += 2) {
    int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) goto invalid;
    out[i / 2] = (char)((hi << 4) | lo);
  }
  luaL_pushresultsize(&b, n / 2);
  return 1;
invalid:
  luaL_pushfail(L);
  lua_pushliteral(L, "crypto: invalid hex");
  return 2;
}

int lakehost_sha256_fd(EVP_MD_CTX *ctx, int fd, unsigned char *buf, size_t bufsize,
                       unsigned char md[32], uint64_t *size) {
  unsigned int len = 0;
  ssize_t got;
  *size = 0;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) return -2;
  for (;;) {
    got = read(fd, buf, bufsize);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      if (errno == 0) errno = EIO;
      return -1;
    }
    if (got == 0) break;
    if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) return -2;
    *size += (uint64_t)got;
  }
  return EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32 ? 0 : -2;
}

/*
 * crypto.sha256_file(path) -> hex, size | nil, "crypto: <path>: <strerror>"
 * Streams the file in 64 KiB chunks with read(2): no stdio buffer, and a
 * small file costs one read and the one that finds its end. Nothing between
 * the allocations and their release can raise; results are pushed afterwards.
 */
static int crypto_sha256_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  unsigned char md[32];
  unsigned char *buf = NULL;
  EVP_MD_CTX *ctx = NULL;
  uint64_t size = 0;
  int fd, r = 0, err = 0;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    err = errno;
  } else {
    buf = (unsigned char *)malloc(FILE_CHUNK);
    ctx = EVP_MD_CTX_new();
    if (buf == NULL || ctx == NULL)
      err = ENOMEM;
    else if ((r = lakehost_sha256_fd(ctx, fd, buf, FILE_CHUNK, md, &size)) == -1)
      err = errno;
    close(fd);
  }
  free(buf);
  EVP_MD_CTX_free(ctx);
  if (r == -2) return pushsslerror(L);
  if (err != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "crypto: %s: %s", path, strerror(err));
    return 2;
  }
  pushhex(L, md, sizeof md);
  lua_pushinteger(L, (lua_Integer)size);
  return 2;
}

/* crypto.sha256_new() -> hasher | nil, err */
static int crypto_sha256_new(lua_State *L) {
  Hasher *h = (Hasher *)lua_newuserdatauv(L, sizeof *h, 0);
  h->ctx = NULL; /* closed until the context exists: __gc is always safe */
  h->done = 0;
  luaL_setmetatable(L, HASHER);
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    return pushsslerror(L);
  }
  return 1;
}

/* crypto.random(n) -> n random bytes (0 < n <= 1024) | nil, err */
static int crypto_random(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  unsigned char buf[RANDOM_MAX];
  luaL_argcheck(L, n > 0 && n <= RANDOM_MAX, 1, "must be between 1 and 1024");
  if (RAND_bytes(buf, (int)n) != 1) return pushsslerror(L);
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  return 1;
}

/* crypto.equal(a, b) -> boolean; constant time for equal lengths */
static int crypto_equal(lua_State *L) {
  size_t an, bn;
  const char *a = luaL_checklstring(L, 1, &an);
  const char *b = luaL_checklstring(L, 2, &bn);
  lua_pushboolean(L, an == bn && CRYPTO_memcmp(a, b, an) == 0);
  return 1;
}

static const luaL_Reg crypto_funcs[] = {{"sha256", crypto_sha256},
                                        {"sha256_hex", crypto_sha256_hex},
                                        {"hmac_sha256", crypto_hmac_sha256},
                                        {"hmac_sha256_hex", crypto_hmac_sha256_hex},
                                        {"md5", crypto_md5},
                                        {"md5_base64", crypto_md5_base64},
                                        {"base64_encode", crypto_base64_encode},
                                        {"base64_decode", crypto_base64_decode},
                                        {"hex_encode", crypto_hex_encode},
                                        {"hex_decode", crypto_hex_decode},
                                        {"sha256_file", crypto_sha256_file},
                                        {"sha256_new", crypto_sha256_new},
                                        {"random", crypto_random},
                                        {"equal", crypto_equal},
                                        {NULL, NULL}};

static const luaL_Reg hasher_meths[] = {
    {"update", hasher_update}, {"hex", hasher_hex}, {"digest", hasher_digest}, {NULL, NULL}};

static const luaL_Reg hasher_metas[] = {{"__index", NULL},
                                        {"__gc", hasher_gc},
                                        {"__close", hasher_gc},
                                        {"__tostring", hasher_tostring},
                                        {NULL, NULL}};

int luaopen_host_crypto(lua_State *L) {
  luaL_newmetatable(L, HASHER); /* [mt] */
  luaL_setfuncs(L, hasher_metas, 0);
  luaL_newlib(L, hasher_meths); /* [mt, meths] */
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, crypto_funcs);
  return 1;
}
