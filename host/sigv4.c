/*
 * host.sigv4 -- AWS Signature Version 4 (Authorization header and presigned query).
 *
 * Shaped after awslabs/aws-c-auth (source/aws_signing.c): signing runs in named
 * stages -- canonical request, string to sign, signature -- over one state struct
 * that holds a buffer per intermediate product, and each canonicalisation step is
 * a small s_-prefixed helper returning 0 (ok) or -1 (error, message in state->err).
 * Spec variations are flags (normalize, double_encode, sign_body, omit token), as in
 * aws-c-auth's signing_config. The expected behaviour is the AWS SigV4 test suite
 * (spec/fixtures/sigv4) plus the S3 documentation examples (spec/fixtures/sigv4-s3).
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 *
 * Lua strings are borrowed, never copied: the request table stays on the stack for
 * the whole call and is read with raw access only, so no Lua code runs meanwhile.
 * Everything malloc'd hangs off a state userdata created first, so a raise during
 * validation frees it through __gc. The secret key, the "AWS4"+secret key and every
 * derived key are wiped with OPENSSL_cleanse as soon as the signature exists, and no
 * error message ever carries a secret, a key or a token.
 */
#include <lauxlib.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"

#define SIGV4_STATE "lakehost.sigv4.state"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_DEFAULT_EXPIRES 3600
#define SIGV4_MAX_EXPIRES 604800       /* seven days, the SigV4 maximum */
#define SIGV4_MAX_EPOCH 253402300799LL /* 9999-12-31T23:59:59Z */
#define SHA256_LEN 32

/* A growable byte buffer; one per intermediate product. */
typedef struct {
  char *p;
  size_t len, cap;
} sbuf;

/* Bytes borrowed from a Lua string that the request table keeps alive. */
typedef struct {
  const char *p;
  size_t len;
} span;

/* A request header as given (name and value borrowed). */
typedef struct {
  span name, value;
} raw_header;

/*
 * A canonicalised header or query parameter. The bytes live in a scratch buffer
 * that may move while it grows, so entries keep offsets and get pointers only once
 * the list is complete (s_fix_entries), just before sorting.
 */
typedef struct {
  size_t name_off, name_len, value_off, value_len;
  size_t order; /* input position: duplicate headers keep their order */
  const char *name, *value;
} entry;

typedef struct {
  entry *v;
  size_t len, cap;
  sbuf bytes; /* names and values */
} entry_list;

typedef enum { MODE_HEADER, MODE_QUERY } sign_mode;

typedef struct {
  /* configuration, read from the request table by s_read_request */
  span method, path, query, access_key, secret_key, session_token, region, service;
  span body, given_payload_hash;
  int has_body, has_payload_hash, unsigned_payload, has_token;
  int normalize, double_encode, add_content_sha256, omit_token;
  sign_mode mode;
  lua_Integer expires;
  raw_header *headers;
  size_t nheaders;
  char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
  char date8[9];     /* YYYYMMDD */

  /* products, in the order the stages build them */
  sbuf payload_hash;
  entry_list canonical_headers;
  sbuf signed_headers;
  sbuf credential_scope;
  entry_list query_params;
  sbuf canonical_query;
  sbuf canonical_request;
  sbuf string_to_sign;
  sbuf signature;
  sbuf authorization;
  sbuf signed_query;

  /* key material: wiped after use and again on free */
  sbuf secret_key_buf; /* "AWS4" + secret */
  unsigned char signing_key[SHA256_LEN];

  const char *err; /* static message for the last failure */
} sigv4_state;

/* ---------------------------------------------------------------- buffers */

static int s_fail(sigv4_state *st, const char *msg) {
  st->err = msg;
  return -1;
}

static int s_reserve(sigv4_state *st, sbuf *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return s_fail(st, "out of memory");
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return s_fail(st, "out of memory");
  b->p = p;
  b->cap = cap;
  return 0;
}

static int s_append(sigv4_state *st, sbuf *b, const void *p, size_t n) {
  if (s_reserve(st, b, n)) return -1;
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static int s_append_str(sigv4_state *st, sbuf *b, const char *s) {
  return s_append(st, b, s, strlen(s));
}

static int s_append_span(sigv4_state *st, sbuf *b, span s) { return s_append(st, b, s.p, s.len); }

static int s_append_byte(sigv4_state *st, sbuf *b, char c) { return s_append(st, b, &c, 1); }

static int s_append_hex(sigv4_state *st, sbuf *b, const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  if (s_reserve(st, b, 2 * n)) return -1;
  for (size_t i = 0; i < n; i++) {
    b->p[b->len++] = digits[p[i] >> 4];
    b->p[b->len++] = digits[p[i] & 15];
  }
  return 0;
}

static void s_buf_free(sbuf *b, int wipe) {
  if (b->p && wipe) OPENSSL_cleanse(b->p, b->cap);
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static void s_entries_free(entry_list *l) {
  free(l->v);
  l->v = NULL;
  l->len = l->cap = 0;
  s_buf_free(&l->bytes, 0);
}

/* Adds an entry whose name and value are the next bytes appended to l->bytes. */
static entry *s_entry_begin(sigv4_state *st, entry_list *l, size_t order) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    if (cap > SIZE_MAX / sizeof(entry)) {
      s_fail(st, "out of memory");
      return NULL;
    }
    entry *v = realloc(l->v, cap * sizeof(entry));
    if (!v) {
      s_fail(st, "out of memory");
      return NULL;
    }
    l->v = v;
    l->cap = cap;
  }
  entry *e = &l->v[l->len++];
  memset(e, 0, sizeof *e);
  e->order = order;
  e->name_off = l->bytes.len;
  return e;
}

/* Call between appending the name and the value. */
static void s_entry_mid(entry_list *l, entry *e) {
  e->name_len = l->bytes.len - e->name_off;
  e->value_off = l->bytes.len;
}

static void s_entry_end(entry_list *l, entry *e) { e->value_len = l->bytes.len - e->value_off; }

static void s_fix_entries(entry_list *l) {
  for (size_t i = 0; i < l->len; i++) {
    l->v[i].name = l->bytes.p + l->v[i].name_off;
    l->v[i].value = l->bytes.p + l->v[i].value_off;
  }
}

static int s_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

/* Headers sort by lowercase name; same names keep input order (joined later). */
static int s_cmp_header(const void *pa, const void *pb) {
  const entry *a = pa, *b = pb;
  int c = s_cmp_bytes(a->name, a->name_len, b->name, b->name_len);
  if (c) return c;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* Query parameters sort by encoded name, then encoded value. */
static int s_cmp_param(const void *pa, const void *pb) {
  const entry *a = pa, *b = pb;
  int c = s_cmp_bytes(a->name, a->name_len, b->name, b->name_len);
  if (c) return c;
  return s_cmp_bytes(a->value, a->value_len, b->value, b->value_len);
}

static void s_state_free(sigv4_state *st) {
  s_buf_free(&st->payload_hash, 0);
  s_entries_free(&st->canonical_headers);
  s_buf_free(&st->signed_headers, 0);
  s_buf_free(&st->credential_scope, 0);
  s_entries_free(&st->query_params);
  s_buf_free(&st->canonical_query, 0);
  s_buf_free(&st->canonical_request, 0);
  s_buf_free(&st->string_to_sign, 0);
  s_buf_free(&st->signature, 0);
  s_buf_free(&st->authorization, 0);
  s_buf_free(&st->signed_query, 0);
  s_buf_free(&st->secret_key_buf, 1);
  OPENSSL_cleanse(st->signing_key, sizeof st->signing_key);
  free(st->headers);
  st->headers = NULL;
  st->nheaders = 0;
}

/* ----------------------------------------------------------------- crypto */

static int s_sha256(sigv4_state *st, const void *p, size_t n, unsigned char out[SHA256_LEN]) {
  unsigned int outlen = 0;
  if (!EVP_Digest(n ? p : "", n, out, &outlen, EVP_sha256(), NULL) || outlen != SHA256_LEN)
    return s_fail(st, "SHA-256 failed");
  return 0;
}

static int s_hmac_sha256(sigv4_state *st, const void *key, size_t keylen, const void *msg,
                         size_t msglen, unsigned char out[SHA256_LEN]) {
  char digest[] = "SHA256";
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
  params[1] = OSSL_PARAM_construct_end();
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!mac) return s_fail(st, "HMAC unavailable");
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac); /* holds its own reference to mac */
  EVP_MAC_free(mac);
  if (!ctx) return s_fail(st, "out of memory");
  size_t outlen = 0;
  int ok = EVP_MAC_init(ctx, key, keylen, params) &&
           EVP_MAC_update(ctx, msglen ? msg : (const void *)"", msglen) &&
           EVP_MAC_final(ctx, out, &outlen, SHA256_LEN) && outlen == SHA256_LEN;
  EVP_MAC_CTX_free(ctx); /* wipes the key copy it made */
  return ok ? 0 : s_fail(st, "HMAC-SHA256 failed");
}

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 * The intermediate keys live in one local array wiped before returning.
 */
static int s_compute_signing_key(sigv4_state *st, span secret, const char *date8, span region,
                                 span service, unsigned char out[SHA256_LEN]) {
  unsigned char k[2][SHA256_LEN];
  int rc = -1;
  sbuf *kb = &st->secret_key_buf;
  kb->len = 0;
  if (s_append_str(st, kb, "AWS4") || s_append_span(st, kb, secret)) goto done;
  if (s_hmac_sha256(st, kb->p, kb->len, date8, strlen(date8), k[0])) goto done;
  if (s_hmac_sha256(st, k[0], SHA256_LEN, region.p, region.len, k[1])) goto done;
  if (s_hmac_sha256(st, k[1], SHA256_LEN, service.p, service.len, k[0])) goto done;
  if (s_hmac_sha256(st, k[0], SHA256_LEN, SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), out))
    goto done;
  rc = 0;
done:
  OPENSSL_cleanse(k, sizeof k);
  if (kb->p) OPENSSL_cleanse(kb->p, kb->cap);
  kb->len = 0;
  return rc;
}

/* --------------------------------------------------------------- encoding */

static int s_is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

/* SigV4 UriEncode: RFC 3986 unreserved bytes kept, all others %XX (upper case hex). */
static int s_append_uri_encoded(sigv4_state *st, sbuf *b, const char *p, size_t n,
                                int encode_slash) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (s_is_unreserved(c) || (c == '/' && !encode_slash)) {
      if (s_append_byte(st, b, (char)c)) return -1;
    } else {
      char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
      if (s_append(st, b, esc, 3)) return -1;
    }
  }
  return 0;
}

static int s_hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * Percent-decodes then re-encodes one query component, so "%E1%88%B4" and the raw
 * UTF-8 bytes give the same canonical form (get-vanilla-query-order-encoded,
 * get-vanilla-utf8-query). A '%' not followed by two hex digits is kept literally
 * (and so becomes %25). '+' is not a space here: SigV4 works on RFC 3986 encoding,
 * not on form encoding, so a literal '+' is signed as %2B.
 */
static int s_append_query_component(sigv4_state *st, sbuf *b, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '%' && i + 2 < n && s_hex_value((unsigned char)p[i + 1]) >= 0 &&
        s_hex_value((unsigned char)p[i + 2]) >= 0) {
      c = (unsigned char)(s_hex_value((unsigned char)p[i + 1]) * 16 +
                          s_hex_value((unsigned char)p[i + 2]));
      i += 2;
    }
    char one = (char)c;
    if (s_append_uri_encoded(st, b, &one, 1, 1)) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------- time */

static int s_is_digits(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  return 1;
}

static int s_two(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

static int s_is_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int s_days_in_month(long y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && s_is_leap(y) ? 29 : days[m - 1];
}

/* Checks "YYYYMMDDTHHMMSSZ" (basic ISO 8601, UTC). */
static int s_valid_amz_date(const char *s, size_t n) {
  if (n != 16 || !s_is_digits(s, 8) || s[8] != 'T' || !s_is_digits(s + 9, 6) || s[15] != 'Z')
    return 0;
  long y = s_two(s) * 100L + s_two(s + 2);
  int mo = s_two(s + 4), d = s_two(s + 6);
  if (mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo)) return 0;
  return s_two(s + 9) < 24 && s_two(s + 11) < 60 && s_two(s + 13) < 60;
}

/* Epoch seconds (0..SIGV4_MAX_EPOCH) to "YYYYMMDDTHHMMSSZ" without gmtime (days-to-civil). */
static void s_format_amz_date(long long t, char out[17]) {
  long long days = t / 86400, secs = t % 86400;
  long long z = days + 719468, era = z / 146097;
  long long doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  long long v[6] = {y, m, d, secs / 3600, secs / 60 % 60, secs % 60};
  int w[6] = {4, 2, 2, 2, 2, 2};
  char *o = out;
  for (int i = 0; i < 6; i++) {
    if (i == 3) *o++ = 'T';
    for (int k = w[i] - 1; k >= 0; k--) {
      o[k] = (char)('0' + v[i] % 10);
      v[i] /= 10;
    }
    o += w[i];
  }
  *o++ = 'Z';
  *o = '\0';
}

/* ------------------------------------------------------ reading a request */

static const char *const sign_fields[] = {"method",
                                          "path",
                                          "query",
                                          "headers",
                                          "body",
                                          "payload_hash",
                                          "unsigned_payload",
                                          "access_key",
                                          "secret_key",
                                          "session_token",
                                          "region",
                                          "service",
                                          "time",
                                          "normalize",
                                          "double_encode",
                                          "s3",
                                          "sign_body",
                                          "mode",
                                          "expires",
                                          "omit_session_token_from_signature",
                                          NULL};

static int s_get_field(lua_State *L, int req, const char *name) {
  lua_pushstring(L, name);
  return lua_rawget(L, req);
}

/* Borrows a string field; raises when missing (if required) or not a string. */
static int s_read_string(lua_State *L, int req, const char *fn, const char *name, int required,
                         span *out) {
  int t = s_get_field(L, req, name);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "%s: missing field '%s'", fn, name);
    return 0;
  }
  if (t != LUA_TSTRING) luaL_error(L, "%s: field '%s' must be a string", fn, name);
  out->p = lua_tolstring(L, -1, &out->len); /* still referenced by the table */
  lua_pop(L, 1);
  return 1;
}

static int s_read_bool(lua_State *L, int req, const char *fn, const char *name, int dflt) {
  int t = s_get_field(L, req, name);
  int v = dflt;
  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "%s: field '%s' must be a boolean", fn, name);
  lua_pop(L, 1);
  return v;
}

static int s_is_token_char(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' && c != ',' && c != ';' &&
         c != '"' && c != '/' && c != '[' && c != ']' && c != '?' && c != '=' && c != '{' &&
         c != '}' && c != '\\' && c != '<' && c != '>' && c != '@';
}

static int s_name_is(span name, const char *lower) {
  size_t n = strlen(lower);
  if (name.len != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name.p[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != lower[i]) return 0;
  }
  return 1;
}

/* access_key, region and service go into "AK/date/region/service/aws4_request". */
static void s_check_scope_part(lua_State *L, const char *fn, const char *name, span v) {
  if (v.len == 0) luaL_error(L, "%s: field '%s' must not be empty", fn, name);
  for (size_t i = 0; i < v.len; i++)
    if (!s_is_token_char((unsigned char)v.p[i]))
      luaL_error(L, "%s: field '%s' has a character not allowed in a credential scope", fn, name);
}

/*
 * Checks one header pair; never echoes the value (it may be a credential).
 * Authorization, X-Amz-Date and X-Amz-Security-Token (and x-amz-content-sha256 when
 * s3/sign_body asks the signer for it) come from the signer: a caller's copy would be
 * signed next to ours, or contradict it.
 */
static void s_check_header(lua_State *L, const char *fn, const sigv4_state *st, span name,
                           span value) {
  if (name.len == 0) luaL_error(L, "%s: header name must not be empty", fn);
  for (size_t i = 0; i < name.len; i++)
    if (!s_is_token_char((unsigned char)name.p[i])) luaL_error(L, "%s: invalid header name", fn);
  for (size_t i = 0; i < value.len; i++) {
    unsigned char c = (unsigned char)value.p[i];
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
      luaL_error(L, "%s: invalid character in the value of header '%s'", fn,
                 lua_pushlstring(L, name.p, name.len));
  }
  static const char *const reserved[] = {"authorization", "x-amz-date", "x-amz-security-token",
                                         NULL};
  for (int i = 0; reserved[i]; i++)
    if (s_name_is(name, reserved[i]))
      luaL_error(L, "%s: header '%s' is added by the signer", fn,
                 lua_pushlstring(L, name.p, name.len));
  if (st->add_content_sha256 && s_name_is(name, "x-amz-content-sha256"))
    luaL_error(L, "%s: header '%s' is added by the signer (s3/sign_body)", fn,
               lua_pushlstring(L, name.p, name.len));
}

static span s_header_part(lua_State *L, const char *fn, lua_Integer i, int k) {
  span s;
  if (lua_rawgeti(L, -1, k) != LUA_TSTRING)
    luaL_error(L, "%s: headers[%d] must be a {name, value} pair of strings", fn, (int)i);
  s.p = lua_tolstring(L, -1, &s.len);
  lua_pop(L, 1);
  return s;
}

/*
 * headers: an array of {name, value} pairs (duplicates allowed, order kept) or a
 * map name -> value. A map has no order, so its entries are taken sorted by name
 * to keep the result deterministic when two names differ only in case.
 */
static void s_read_headers(lua_State *L, int req, const char *fn, sigv4_state *st) {
  if (s_get_field(L, req, "headers") != LUA_TTABLE) {
    if (lua_isnil(L, -1)) luaL_error(L, "%s: missing field 'headers'", fn);
    luaL_error(L, "%s: field 'headers' must be a table", fn);
  }
  int ht = lua_gettop(L);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, ht)) {
    n++;
    lua_pop(L, 1);
  }
  if (n == 0) {
    lua_pop(L, 1);
    return;
  }
  if (n > SIZE_MAX / sizeof(raw_header)) luaL_error(L, "%s: too many headers", fn);
  st->headers = calloc(n, sizeof(raw_header));
  if (!st->headers) luaL_error(L, "%s: out of memory", fn);
  int is_array = lua_rawgeti(L, ht, 1) != LUA_TNIL;
  lua_pop(L, 1);
  if (is_array) {
    if (lua_rawlen(L, ht) != n)
      luaL_error(L, "%s: field 'headers' mixes an array of pairs with other keys", fn);
    for (size_t i = 1; i <= n; i++) {
      if (lua_rawgeti(L, ht, (lua_Integer)i) != LUA_TTABLE)
        luaL_error(L, "%s: headers[%d] must be a {name, value} pair of strings", fn, (int)i);
      raw_header *h = &st->headers[i - 1];
      h->name = s_header_part(L, fn, (lua_Integer)i, 1);
      h->value = s_header_part(L, fn, (lua_Integer)i, 2);
      lua_pop(L, 1);
    }
  } else {
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, ht)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: field 'headers' must map header names to string values", fn);
      raw_header *h = &st->headers[i++];
      h->name.p = lua_tolstring(L, -2, &h->name.len);
      h->value.p = lua_tolstring(L, -1, &h->value.len);
      lua_pop(L, 1);
    }
    /* insertion sort by name: maps are small and this keeps the code obvious */
    for (size_t a = 1; a < n; a++) {
      raw_header h = st->headers[a];
      size_t b = a;
      while (b > 0 && s_cmp_bytes(st->headers[b - 1].name.p, st->headers[b - 1].name.len, h.name.p,
                                  h.name.len) > 0) {
        st->headers[b] = st->headers[b - 1];
        b--;
      }
      st->headers[b] = h;
    }
  }
  st->nheaders = n;
  for (size_t i = 0; i < n; i++)
    s_check_header(L, fn, st, st->headers[i].name, st->headers[i].value);
  lua_pop(L, 1);
}

/* time: integer epoch seconds or "YYYYMMDDTHHMMSSZ"; absent means now (UTC). */
static void s_read_time(lua_State *L, int req, const char *fn, sigv4_state *st) {
  int isint = 0;
  int t = s_get_field(L, req, "time");
  if (t == LUA_TNIL) {
    time_t now = time(NULL);
    if (now == (time_t)-1 || now < 0) luaL_error(L, "%s: cannot read the clock", fn);
    s_format_amz_date((long long)now, st->amz_date);
  } else if (t == LUA_TNUMBER && (lua_tointegerx(L, -1, &isint), isint)) {
    lua_Integer v = lua_tointeger(L, -1);
    if (v < 0 || v > SIGV4_MAX_EPOCH)
      luaL_error(L, "%s: field 'time' out of range (0..%I)", fn, (lua_Integer)SIGV4_MAX_EPOCH);
    s_format_amz_date((long long)v, st->amz_date);
  } else if (t == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s_valid_amz_date(s, n))
      luaL_error(L, "%s: field 'time' must look like '20150830T123600Z'", fn);
    memcpy(st->amz_date, s, 16);
    st->amz_date[16] = '\0';
  } else {
    luaL_error(L, "%s: field 'time' must be integer epoch seconds or a 'YYYYMMDDTHHMMSSZ' string",
               fn);
  }
  lua_pop(L, 1);
  memcpy(st->date8, st->amz_date, 8);
  st->date8[8] = '\0';
}

static int s_is_lower_hex(span s) {
  for (size_t i = 0; i < s.len; i++)
    if (s_hex_value((unsigned char)s.p[i]) < 0 || (s.p[i] >= 'A' && s.p[i] <= 'F')) return 0;
  return 1;
}

/*
 * Reads and validates the whole request table at index req into st. Raises on any
 * misuse (unknown key, missing or mistyped field, bad option) before any signing
 * work, so the stages below never need Lua.
 */
static void s_read_request(lua_State *L, int req, const char *fn, sigv4_state *st) {
  /* unknown keys first: a misspelt option must not be silently ignored */
  lua_pushnil(L);
  while (lua_next(L, req)) {
    int known = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      for (int i = 0; sign_fields[i] && !known; i++) known = strcmp(k, sign_fields[i]) == 0;
      if (!known) luaL_error(L, "%s: unknown field '%s'", fn, k);
    } else {
      luaL_error(L, "%s: unknown field '%s'", fn, luaL_tolstring(L, -2, NULL));
    }
    lua_pop(L, 1);
  }

  s_read_string(L, req, fn, "method", 1, &st->method);
  s_read_string(L, req, fn, "path", 1, &st->path);
  s_read_string(L, req, fn, "access_key", 1, &st->access_key);
  s_read_string(L, req, fn, "secret_key", 1, &st->secret_key);
  s_read_string(L, req, fn, "region", 1, &st->region);
  s_read_string(L, req, fn, "service", 1, &st->service);
  st->has_token = s_read_string(L, req, fn, "session_token", 0, &st->session_token);
  s_read_string(L, req, fn, "query", 0, &st->query);
  st->has_body = s_read_string(L, req, fn, "body", 0, &st->body);
  st->has_payload_hash = s_read_string(L, req, fn, "payload_hash", 0, &st->given_payload_hash);
  st->unsigned_payload = s_read_bool(L, req, fn, "unsigned_payload", 0);

  if (st->method.len == 0) luaL_error(L, "%s: field 'method' must not be empty", fn);
  for (size_t i = 0; i < st->method.len; i++)
    if (!s_is_token_char((unsigned char)st->method.p[i]))
      luaL_error(L, "%s: field 'method' is not an HTTP method", fn);
  if (st->path.len == 0 || st->path.p[0] != '/')
    luaL_error(L, "%s: field 'path' must start with '/'", fn);
  if (memchr(st->path.p, '?', st->path.len) || memchr(st->path.p, '#', st->path.len))
    luaL_error(L, "%s: field 'path' must not contain '?' or '#' (pass the query as 'query')", fn);
  if (st->secret_key.len == 0) luaL_error(L, "%s: field 'secret_key' must not be empty", fn);
  s_check_scope_part(L, fn, "access_key", st->access_key);
  s_check_scope_part(L, fn, "region", st->region);
  s_check_scope_part(L, fn, "service", st->service);
  if (st->has_token && st->session_token.len == 0)
    luaL_error(L, "%s: field 'session_token' must not be empty", fn);
  if (st->has_body + st->has_payload_hash + st->unsigned_payload > 1)
    luaL_error(L, "%s: give only one of 'body', 'payload_hash', 'unsigned_payload'", fn);
  if (st->has_payload_hash &&
      (st->given_payload_hash.len != 2 * SHA256_LEN || !s_is_lower_hex(st->given_payload_hash)))
    luaL_error(L, "%s: field 'payload_hash' must be 64 lowercase hex digits", fn);

  /* s3 = true sets S3's defaults; explicit normalize/double_encode still win */
  int s3 = s_read_bool(L, req, fn, "s3", 0);
  st->normalize = s_read_bool(L, req, fn, "normalize", !s3);
  st->double_encode = s_read_bool(L, req, fn, "double_encode", !s3);
  st->omit_token = s_read_bool(L, req, fn, "omit_session_token_from_signature", 0);

  static const char *const modes[] = {"header", "query", NULL};
  st->mode = MODE_HEADER;
  if (s_get_field(L, req, "mode") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: field 'mode' must be 'header' or 'query'", fn);
    const char *m = lua_tostring(L, -1);
    int i = 0;
    while (modes[i] && strcmp(modes[i], m) != 0) i++;
    if (!modes[i]) luaL_error(L, "%s: field 'mode' must be 'header' or 'query'", fn);
    st->mode = i == 0 ? MODE_HEADER : MODE_QUERY;
  }
  lua_pop(L, 1);

  st->expires = SIGV4_DEFAULT_EXPIRES;
  int t = s_get_field(L, req, "expires");
  if (t != LUA_TNIL) {
    if (st->mode != MODE_QUERY) luaL_error(L, "%s: field 'expires' needs mode = 'query'", fn);
    int isint = 0;
    st->expires = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint) luaL_error(L, "%s: field 'expires' must be an integer", fn);
    if (st->expires < 1 || st->expires > SIGV4_MAX_EXPIRES)
      luaL_error(L, "%s: field 'expires' must be within 1..%d", fn, SIGV4_MAX_EXPIRES);
  }
  lua_pop(L, 1);

  /* x-amz-content-sha256 is a header: a presigned URL carries no added headers
   * (the suite's query-* files for the sign_body cases sign none either) */
  int sign_body = s_read_bool(L, req, fn, "sign_body", 0);
  st->add_content_sha256 = st->mode == MODE_HEADER && (s3 || sign_body);

  s_read_time(L, req, fn, st);
  s_read_headers(L, req, fn, st);
}

/* --------------------------------------------------- canonical request */

static int s_compute_payload_hash(sigv4_state *st) {
  sbuf *b = &st->payload_hash;
  if (st->unsigned_payload) return s_append_str(st, b, SIGV4_UNSIGNED_PAYLOAD);
  if (st->has_payload_hash) return s_append_span(st, b, st->given_payload_hash);
  unsigned char md[SHA256_LEN];
  if (s_sha256(st, st->body.p, st->has_body ? st->body.len : 0, md)) return -1;
  return s_append_hex(st, b, md, SHA256_LEN);
}

static int s_build_credential_scope(sigv4_state *st) {
  sbuf *b = &st->credential_scope;
  return s_append_str(st, b, st->date8) || s_append_byte(st, b, '/') ||
         s_append_span(st, b, st->region) || s_append_byte(st, b, '/') ||
         s_append_span(st, b, st->service) || s_append_byte(st, b, '/') ||
         s_append_str(st, b, SIGV4_TERMINATOR);
}

/*
 * Header values: trim, then collapse every run of whitespace to one space. The
 * suite collapses inside double quotes too (get-header-value-trim: "a   b   c" ->
 * "a b c"), and an obs-folded value ("value1\n  value2") becomes "value1 value2"
 * (get-header-value-multiline), so CR, LF and HTAB count as whitespace.
 */
static int s_is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int s_append_header_value(sigv4_state *st, sbuf *b, span v) {
  size_t i = 0, end = v.len;
  while (i < end && s_is_space(v.p[i])) i++;
  while (end > i && s_is_space(v.p[end - 1])) end--;
  int in_space = 0;
  for (; i < end; i++) {
    if (s_is_space(v.p[i])) {
      in_space = 1;
      continue;
    }
    if (in_space && s_append_byte(st, b, ' ')) return -1;
    in_space = 0;
    if (s_append_byte(st, b, v.p[i])) return -1;
  }
  return 0;
}

static int s_add_header(sigv4_state *st, span name, span value, size_t order, int raw) {
  entry_list *l = &st->canonical_headers;
  entry *e = s_entry_begin(st, l, order);
  if (!e) return -1;
  if (s_reserve(st, &l->bytes, name.len)) return -1;
  for (size_t i = 0; i < name.len; i++) {
    char c = name.p[i];
    l->bytes.p[l->bytes.len++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  s_entry_mid(l, e);
  if (raw ? s_append_span(st, &l->bytes, value) : s_append_header_value(st, &l->bytes, value))
    return -1;
  s_entry_end(l, e);
  return 0;
}

static span s_span(const char *s) {
  span r = {s, strlen(s)};
  return r;
}

/*
 * Canonical headers: the request's headers plus, in header mode, the ones the
 * signer adds (x-amz-date, x-amz-security-token unless omitted, x-amz-content-sha256
 * for s3/sign_body). Sorted by lowercase name; values of a repeated name are
 * joined with ',' in input order (get-header-key-duplicate, get-header-value-order).
 * Also builds signed_headers ("host;x-amz-date").
 */
static int s_canonicalize_headers(sigv4_state *st) {
  size_t order = 0;
  for (size_t i = 0; i < st->nheaders; i++)
    if (s_add_header(st, st->headers[i].name, st->headers[i].value, order++, 0)) return -1;
  if (st->mode == MODE_HEADER) {
    if (s_add_header(st, s_span("x-amz-date"), s_span(st->amz_date), order++, 1)) return -1;
    if (st->has_token && !st->omit_token &&
        s_add_header(st, s_span("x-amz-security-token"), st->session_token, order++, 1))
      return -1;
    if (st->add_content_sha256) {
      span ph = {st->payload_hash.p, st->payload_hash.len};
      if (s_add_header(st, s_span("x-amz-content-sha256"), ph, order++, 1)) return -1;
    }
  }
  entry_list *l = &st->canonical_headers;
  s_fix_entries(l);
  if (l->len) qsort(l->v, l->len, sizeof(entry), s_cmp_header);
  for (size_t i = 0; i < l->len; i++) {
    const entry *e = &l->v[i];
    if (i > 0 && s_cmp_bytes(e->name, e->name_len, l->v[i - 1].name, l->v[i - 1].name_len) == 0)
      continue;
    if (st->signed_headers.len && s_append_byte(st, &st->signed_headers, ';')) return -1;
    if (s_append(st, &st->signed_headers, e->name, e->name_len)) return -1;
  }
  return 0;
}

static int s_append_canonical_headers(sigv4_state *st) {
  const entry_list *l = &st->canonical_headers;
  sbuf *b = &st->canonical_request;
  for (size_t i = 0; i < l->len; i++) {
    const entry *e = &l->v[i];
    int same =
        i > 0 && s_cmp_bytes(e->name, e->name_len, l->v[i - 1].name, l->v[i - 1].name_len) == 0;
    if (same) {
      if (s_append_byte(st, b, ',')) return -1;
    } else {
      if (i > 0 && s_append_byte(st, b, '\n')) return -1;
      if (s_append(st, b, e->name, e->name_len) || s_append_byte(st, b, ':')) return -1;
    }
    if (s_append(st, b, e->value, e->value_len)) return -1;
  }
  return l->len ? s_append_byte(st, b, '\n') : 0;
}

/*
 * Removes '.' and empty segments and resolves '..' (never above the root), keeping
 * a trailing '/' when the raw path had one: "//example//" -> "/example/",
 * "/example/.." -> "/" (the get-slash*, get-relative* cases). Same rules as
 * aws-c-auth's s_append_normalized_path.
 */
static int s_normalize_path(sigv4_state *st, span path, sbuf *out) {
  size_t n = 0, i = 0, cap = path.len / 2 + 1;
  size_t *starts = malloc(cap * sizeof(size_t)), *lens = malloc(cap * sizeof(size_t));
  int rc = -1, ends_with_slash = path.p[path.len - 1] == '/';
  if (!starts || !lens) {
    s_fail(st, "out of memory");
    goto done;
  }
  while (i <= path.len) {
    size_t j = i;
    while (j < path.len && path.p[j] != '/') j++;
    size_t len = j - i;
    if (len == 0 || (len == 1 && path.p[i] == '.')) {
      /* contributes nothing */
    } else if (len == 2 && path.p[i] == '.' && path.p[i + 1] == '.') {
      if (n > 0) n--;
    } else {
      starts[n] = i; /* n < cap: every kept segment has at least one byte and a '/' before */
      lens[n++] = len;
    }
    i = j + 1;
  }
  if (s_append_byte(st, out, '/')) goto done;
  for (size_t k = 0; k < n; k++) {
    if (s_append(st, out, path.p + starts[k], lens[k])) goto done;
    if ((k + 1 < n || ends_with_slash) && s_append_byte(st, out, '/')) goto done;
  }
  rc = 0;
done:
  free(starts);
  free(lens);
  return rc;
}

/*
 * The path is taken as sent on the wire, i.e. already URI-encoded once by the
 * caller. Most services sign the encoding of that ("double encoding": "%20" is
 * signed as "%2520", a raw space as "%20"); S3 signs the path exactly as sent,
 * without normalisation (double_encode = normalize = false).
 */
static int s_append_canonical_path(sigv4_state *st) {
  sbuf *b = &st->canonical_request;
  sbuf normalized = {NULL, 0, 0};
  span path = st->path;
  int rc = -1;
  if (st->normalize) {
    if (s_normalize_path(st, st->path, &normalized)) goto done;
    path.p = normalized.p;
    path.len = normalized.len;
  }
  if (st->double_encode) {
    if (s_append_uri_encoded(st, b, path.p, path.len, 0)) goto done;
  } else if (s_append_span(st, b, path)) {
    goto done;
  }
  rc = 0;
done:
  s_buf_free(&normalized, 0);
  return rc;
}

static int s_add_param(sigv4_state *st, const char *name, span value, int component) {
  entry_list *l = &st->query_params;
  entry *e = s_entry_begin(st, l, l->len);
  if (!e) return -1;
  if (s_append_str(st, &l->bytes, name)) return -1;
  s_entry_mid(l, e);
  if (component ? s_append_query_component(st, &l->bytes, value.p, value.len)
                : s_append_uri_encoded(st, &l->bytes, value.p, value.len, 1))
    return -1;
  s_entry_end(l, e);
  return 0;
}

/* The X-Amz-* parameters a presigned URL signs (X-Amz-Signature comes after). */
static int s_add_presign_params(sigv4_state *st) {
  char expires[24];
  sbuf cred = {NULL, 0, 0};
  span c, sh = {st->signed_headers.p, st->signed_headers.len};
  int n = snprintf(expires, sizeof expires, "%lld", (long long)st->expires);
  int rc = -1;
  if (n < 0 || (size_t)n >= sizeof expires) return s_fail(st, "bad expiry");
  if (s_append_span(st, &cred, st->access_key) || s_append_byte(st, &cred, '/') ||
      s_append(st, &cred, st->credential_scope.p, st->credential_scope.len))
    goto done;
  c.p = cred.p;
  c.len = cred.len;
  if (s_add_param(st, "X-Amz-Algorithm", s_span(SIGV4_ALGORITHM), 0) ||
      s_add_param(st, "X-Amz-Credential", c, 0) ||
      s_add_param(st, "X-Amz-Date", s_span(st->amz_date), 0) ||
      s_add_param(st, "X-Amz-Expires", s_span(expires), 0) ||
      s_add_param(st, "X-Amz-SignedHeaders", sh, 0))
    goto done;
  if (st->has_token && !st->omit_token &&
      s_add_param(st, "X-Amz-Security-Token", st->session_token, 0))
    goto done;
  rc = 0;
done:
  s_buf_free(&cred, 0);
  return rc;
}

/*
 * Canonical query: split on '&' (empty pieces skipped), split each piece at its
 * first '=' (a bare "lifecycle" is "lifecycle="), decode then re-encode both parts,
 * sort by encoded name then encoded value, join with '&'.
 */
static int s_append_canonical_query_string(sigv4_state *st) {
  entry_list *l = &st->query_params;
  const char *q = st->query.p;
  size_t n = st->query.len, i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&') j++;
    if (j > i) {
      const char *eq = memchr(q + i, '=', j - i);
      size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
      span v = {eq ? eq + 1 : q + j, eq ? (size_t)(q + j - (eq + 1)) : 0};
      entry *e = s_entry_begin(st, l, l->len);
      if (!e || s_append_query_component(st, &l->bytes, q + i, klen)) return -1;
      s_entry_mid(l, e);
      if (s_append_query_component(st, &l->bytes, v.p, v.len)) return -1;
      s_entry_end(l, e);
    }
    i = j + 1;
  }
  if (st->mode == MODE_QUERY && s_add_presign_params(st)) return -1;
  s_fix_entries(l);
  if (l->len) qsort(l->v, l->len, sizeof(entry), s_cmp_param);
  sbuf *b = &st->canonical_query;
  for (size_t k = 0; k < l->len; k++) {
    if ((k > 0 && s_append_byte(st, b, '&')) || s_append(st, b, l->v[k].name, l->v[k].name_len) ||
        s_append_byte(st, b, '=') || s_append(st, b, l->v[k].value, l->v[k].value_len))
      return -1;
  }
  return s_append(st, &st->canonical_request, b->p, b->len);
}

/* Stage 1 (aws_signing_build_canonical_request). */
static int s_build_canonical_request(sigv4_state *st) {
  sbuf *b = &st->canonical_request;
  if (st->canonical_request.len != 0) return s_fail(st, "canonical request built twice");
  if (s_compute_payload_hash(st) || s_build_credential_scope(st) || s_canonicalize_headers(st))
    return -1;
  if (s_append_span(st, b, st->method) || s_append_byte(st, b, '\n') ||
      s_append_canonical_path(st) || s_append_byte(st, b, '\n') ||
      s_append_canonical_query_string(st) || s_append_byte(st, b, '\n') ||
      s_append_canonical_headers(st) || s_append_byte(st, b, '\n') ||
      s_append(st, b, st->signed_headers.p, st->signed_headers.len) || s_append_byte(st, b, '\n') ||
      s_append(st, b, st->payload_hash.p, st->payload_hash.len))
    return -1;
  return 0;
}

/* Stage 2 (aws_signing_build_string_to_sign); the scope must already exist. */
static int s_build_string_to_sign(sigv4_state *st, const char *cr, size_t crlen) {
  sbuf *b = &st->string_to_sign;
  unsigned char md[SHA256_LEN];
  if (b->len != 0) return s_fail(st, "string to sign built twice");
  if (st->credential_scope.len == 0 && s_build_credential_scope(st)) return -1;
  if (s_sha256(st, cr, crlen, md)) return -1;
  return s_append_str(st, b, SIGV4_ALGORITHM "\n") || s_append_str(st, b, st->amz_date) ||
         s_append_byte(st, b, '\n') ||
         s_append(st, b, st->credential_scope.p, st->credential_scope.len) ||
         s_append_byte(st, b, '\n') || s_append_hex(st, b, md, SHA256_LEN);
}

/* Stage 3 (aws_signing_build_authorization_value): signature, then what to send. */
static int s_build_authorization(sigv4_state *st) {
  unsigned char sig[SHA256_LEN];
  int rc = s_compute_signing_key(st, st->secret_key, st->date8, st->region, st->service,
                                 st->signing_key);
  if (rc == 0)
    rc = s_hmac_sha256(st, st->signing_key, SHA256_LEN, st->string_to_sign.p,
                       st->string_to_sign.len, sig);
  OPENSSL_cleanse(st->signing_key, sizeof st->signing_key);
  if (rc) return -1;
  if (s_append_hex(st, &st->signature, sig, SHA256_LEN)) return -1;
  if (st->mode == MODE_HEADER) {
    sbuf *b = &st->authorization;
    return s_append_str(st, b, SIGV4_ALGORITHM " Credential=") ||
           s_append_span(st, b, st->access_key) || s_append_byte(st, b, '/') ||
           s_append(st, b, st->credential_scope.p, st->credential_scope.len) ||
           s_append_str(st, b, ", SignedHeaders=") ||
           s_append(st, b, st->signed_headers.p, st->signed_headers.len) ||
           s_append_str(st, b, ", Signature=") ||
           s_append(st, b, st->signature.p, st->signature.len);
  }
  /* The query to send: the canonical query (already encoded and sorted), the token
   * when it was left out of the signature, then the signature. */
  sbuf *q = &st->signed_query;
  if (s_append(st, q, st->canonical_query.p, st->canonical_query.len)) return -1;
  if (st->has_token && st->omit_token &&
      (s_append_str(st, q, "&X-Amz-Security-Token=") ||
       s_append_uri_encoded(st, q, st->session_token.p, st->session_token.len, 1)))
    return -1;
  return s_append_str(st, q, "&X-Amz-Signature=") ||
         s_append(st, q, st->signature.p, st->signature.len);
}

/* ---------------------------------------------------------------- Lua glue */

static sigv4_state *s_new_state(lua_State *L) {
  sigv4_state *st = lua_newuserdatauv(L, sizeof *st, 0);
  memset(st, 0, sizeof *st);
  luaL_setmetatable(L, SIGV4_STATE);
  return st;
}

/* Returns nil, "sigv4.<fn>: <reason>" after a failed stage (never a secret). */
static int s_push_failure(lua_State *L, sigv4_state *st, const char *fn) {
  const char *err = st->err ? st->err : "signing failed";
  s_state_free(st);
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", fn, err);
  return 2;
}

/* Lua-side twin of s_append_uri_encoded (a luaL_Buffer cannot fail without raising). */
static void s_push_uri_encoded(lua_State *L, const char *p, size_t n, int encode_slash) {
  static const char digits[] = "0123456789ABCDEF";
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (s_is_unreserved(c) || (c == '/' && !encode_slash)) {
      luaL_addchar(&b, (char)c);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, digits[c >> 4]);
      luaL_addchar(&b, digits[c & 15]);
    }
  }
  luaL_pushresult(&b);
}

static void s_push_buf(lua_State *L, const sbuf *b) {
  lua_pushlstring(L, b->p ? b->p : "", b->len);
}

static void s_push_pair(lua_State *L, lua_Integer i, const char *name, const char *v, size_t n) {
  lua_createtable(L, 2, 0);
  lua_pushstring(L, name);
  lua_rawseti(L, -2, 1);
  lua_pushlstring(L, v, n);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, -2, i);
}

static void s_set_field_buf(lua_State *L, const char *k, const sbuf *b) {
  s_push_buf(L, b);
  lua_setfield(L, -2, k);
}

/* The headers the caller adds, in the order of the suite's *-signed-request.txt. */
static void s_push_added_headers(lua_State *L, const sigv4_state *st) {
  lua_newtable(L);
  if (st->mode != MODE_HEADER) return;
  lua_Integer i = 1;
  if (st->has_token)
    s_push_pair(L, i++, "X-Amz-Security-Token", st->session_token.p, st->session_token.len);
  s_push_pair(L, i++, "X-Amz-Date", st->amz_date, 16);
  if (st->add_content_sha256)
    s_push_pair(L, i++, "x-amz-content-sha256", st->payload_hash.p, st->payload_hash.len);
  s_push_pair(L, i, "Authorization", st->authorization.p, st->authorization.len);
}

/*
 * The presigned parameters to append to the caller's own query, already encoded,
 * in the order of the suite's query-signed-request.txt (X-Amz-Signature last).
 */
static void s_push_query_params(lua_State *L, const sigv4_state *st) {
  static const char *const order[] = {"X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",
                                      "X-Amz-SignedHeaders", "X-Amz-Expires",    NULL};
  const entry_list *l = &st->query_params;
  lua_newtable(L);
  lua_Integer n = 1;
  for (int k = 0; order[k]; k++)
    for (size_t i = 0; i < l->len; i++)
      if (l->v[i].name_len == strlen(order[k]) &&
          memcmp(l->v[i].name, order[k], l->v[i].name_len) == 0)
        s_push_pair(L, n++, order[k], l->v[i].value, l->v[i].value_len);
  if (st->has_token) { /* signed or not (omit_session_token_from_signature), it is sent */
    lua_createtable(L, 2, 0);
    lua_pushliteral(L, "X-Amz-Security-Token");
    lua_rawseti(L, -2, 1);
    s_push_uri_encoded(L, st->session_token.p, st->session_token.len, 1);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, n++);
  }
  s_push_pair(L, n, "X-Amz-Signature", st->signature.p, st->signature.len);
}

static int sigv4_state_gc(lua_State *L) {
  s_state_free(luaL_checkudata(L, 1, SIGV4_STATE));
  return 0;
}

/* sigv4.sign(req) -> result | nil, err */
static int sigv4_sign(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sigv4_state *st = s_new_state(L);
  s_read_request(L, 1, "sigv4.sign", st);
  if (s_build_canonical_request(st) ||
      s_build_string_to_sign(st, st->canonical_request.p, st->canonical_request.len) ||
      s_build_authorization(st))
    return s_push_failure(L, st, "sigv4.sign");
  lua_createtable(L, 0, 11);
  s_set_field_buf(L, "canonical_request", &st->canonical_request);
  s_set_field_buf(L, "string_to_sign", &st->string_to_sign);
  s_set_field_buf(L, "signature", &st->signature);
  s_set_field_buf(L, "signed_headers", &st->signed_headers);
  s_set_field_buf(L, "credential_scope", &st->credential_scope);
  s_set_field_buf(L, "payload_hash", &st->payload_hash);
  lua_pushstring(L, st->amz_date);
  lua_setfield(L, -2, "amz_date");
  s_push_added_headers(L, st);
  lua_setfield(L, -2, "headers");
  if (st->mode == MODE_HEADER) {
    s_set_field_buf(L, "authorization", &st->authorization);
  } else {
    s_set_field_buf(L, "query", &st->signed_query);
    s_push_query_params(L, st);
    lua_setfield(L, -2, "query_params");
  }
  s_state_free(st);
  return 1;
}

/* sigv4.canonical_request(req) -> canonical_request, signed_headers | nil, err */
static int sigv4_canonical_request(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sigv4_state *st = s_new_state(L);
  s_read_request(L, 1, "sigv4.canonical_request", st);
  if (s_build_canonical_request(st)) return s_push_failure(L, st, "sigv4.canonical_request");
  s_push_buf(L, &st->canonical_request);
  s_push_buf(L, &st->signed_headers);
  s_state_free(st);
  return 2;
}

/* sigv4.string_to_sign(req, canonical_request) -> string | nil, err */
static int sigv4_string_to_sign(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t crlen;
  const char *cr = luaL_checklstring(L, 2, &crlen);
  sigv4_state *st = s_new_state(L);
  s_read_request(L, 1, "sigv4.string_to_sign", st);
  if (s_build_string_to_sign(st, cr, crlen)) return s_push_failure(L, st, "sigv4.string_to_sign");
  s_push_buf(L, &st->string_to_sign);
  s_state_free(st);
  return 1;
}

/* sigv4.signing_key(secret, date8, region, service) -> 32 raw bytes | nil, err */
static int sigv4_signing_key(lua_State *L) {
  span secret, region, service;
  size_t dlen;
  secret.p = luaL_checklstring(L, 1, &secret.len);
  const char *date8 = luaL_checklstring(L, 2, &dlen);
  region.p = luaL_checklstring(L, 3, &region.len);
  service.p = luaL_checklstring(L, 4, &service.len);
  luaL_argcheck(L, secret.len > 0, 1, "empty secret");
  luaL_argcheck(L, dlen == 8 && s_is_digits(date8, 8), 2, "date must be YYYYMMDD");
  sigv4_state *st = s_new_state(L);
  unsigned char key[SHA256_LEN];
  if (s_compute_signing_key(st, secret, date8, region, service, key))
    return s_push_failure(L, st, "sigv4.signing_key");
  lua_pushlstring(L, (const char *)key, SHA256_LEN); /* the caller asked for the key */
  OPENSSL_cleanse(key, sizeof key);
  s_state_free(st);
  return 1;
}

/* sigv4.uri_encode(s [, encode_slash = true]) -> string */
static int sigv4_uri_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  int encode_slash = 1;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    encode_slash = lua_toboolean(L, 2);
  }
  s_push_uri_encoded(L, s, n, encode_slash);
  return 1;
}

static const luaL_Reg sigv4_funcs[] = {{"sign", sigv4_sign},
                                       {"canonical_request", sigv4_canonical_request},
                                       {"string_to_sign", sigv4_string_to_sign},
                                       {"signing_key", sigv4_signing_key},
                                       {"uri_encode", sigv4_uri_encode},
                                       {NULL, NULL}};

static const luaL_Reg sigv4_state_metas[] = {{"__gc", sigv4_state_gc}, {NULL, NULL}};

int luaopen_host_sigv4(lua_State *L) {
  luaL_newmetatable(L, SIGV4_STATE);
  luaL_setfuncs(L, sigv4_state_metas, 0);
  lua_pop(L, 1);
  luaL_newlib(L, sigv4_funcs);
  return 1;
}
