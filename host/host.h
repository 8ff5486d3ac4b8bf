/*
 * host.h -- the host modules that lakehost preloads into every Lua state.
 *
 * Each host/<name>.c exports luaopen_host_<name>, registered in
 * package.preload by preload.c (for main.c and the fuzz harnesses); crypto.c
 * also exports the hashing helpers below, which fs.c shares. The tables of
 * the files built into the binary are generated (tools/embed.c).
 */
#ifndef LAKEHOST_HOST_H
#define LAKEHOST_HOST_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

int luaopen_host_yaml(lua_State *L);
int luaopen_host_json(lua_State *L);
int luaopen_host_xml(lua_State *L);
int luaopen_host_crypto(lua_State *L);
int luaopen_host_sigv4(lua_State *L);
int luaopen_host_http(lua_State *L);
int luaopen_host_fs(lua_State *L);
int luaopen_host_zip(lua_State *L);
int luaopen_host_proc(lua_State *L);
int luaopen_host_regex(lua_State *L);
int luaopen_host_watch(lua_State *L);
int luaopen_host_embedded(lua_State *L);

/* Registers every host module in package.preload. */
void lakehost_preload(lua_State *L);

/* SIGINT/SIGTERM received since proc.trap_interrupts(true) (host/proc.c); 0
 * when the trap is off. host.http aborts a transfer when a second interrupt
 * arrives during it, so "Ctrl-C twice" never waits for a slow request. */
#include <signal.h>
extern volatile sig_atomic_t lakehost_interrupts;

/* ---- helpers of host/crypto.c, not Lua functions ------------------------ */

struct evp_md_ctx_st; /* OpenSSL's EVP_MD_CTX */

/* The SHA-256 of what is left to read of fd (left open), through ctx (set up
 * here, so one context serves many files) and buf: 0 with md (32 bytes) and
 * *size set; -1 with errno when a read fails; -2 when OpenSSL fails (its
 * error queue says why). */
int lakehost_sha256_fd(struct evp_md_ctx_st *ctx, int fd, unsigned char *buf, size_t bufsize,
                       unsigned char md[32], uint64_t *size);

/* The 2 * n lowercase hex digits of in[0..n) into out (no NUL). */
void lakehost_hex(const unsigned char *in, size_t n, char *out);

/* ---- the files built into the binary ----------------------------------- */

/* One embedded file: a module of the Lua library (name "lake.app", chunkname
 * "@lua/lake/app.lua", data its chunk as lua_dump wrote it, debug information
 * kept, size its length, raw_size 0) or a data file (name
 * "docker/Dockerfile.lambda", chunkname NULL, data its bytes deflated in
 * zlib's format, size their length, raw_size the file's length). */
struct lakehost_embedded {
  const char *name;
  const char *chunkname;
  const unsigned char *data;
  size_t size;
  size_t raw_size;
};

/* Defined by $(BUILD)/embedded.c, which tools/embed.c generates from lua/
 * and docker/ at build time: each sorted by name (strcmp), ended by an
 * entry whose name is NULL. */
extern const struct lakehost_embedded lakehost_lua_modules[];
extern const struct lakehost_embedded lakehost_data_files[];

#endif
