/*
 * driver.h -- the driver every fuzz target shares: each input runs a Lua
 * script (the target's checks) twice in a fresh Lua state with the host
 * modules preloaded, once with a roomy allocator, once with a small memory
 * budget derived from the input, so that Lua memory errors strike at varied
 * points of the loader and LeakSanitizer can check that native handles owned
 * by userdata are still freed. Crashes, leaks, an error in the roomy run, and
 * a broken invariant (an error starting "INVARIANT") in either run abort.
 *
 * A target defines its script and calls fuzz_input() from
 * LLVMFuzzerTestOneInput. Included by exactly one .c file per target.
 */
#ifndef LAKEHOST_FUZZ_DRIVER_H
#define LAKEHOST_FUZZ_DRIVER_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Lua allocator with a limit; run() sets limit = used + extra once the
 * libraries are open, so the budget counts only the work on the input. */
typedef struct {
  size_t used, limit, extra;
} Budget;

/* What run() needs, passed as a light userdata. */
typedef struct {
  const uint8_t *data;
  size_t size;
  const char *script, *name;
} Job;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  Budget *b = (Budget *)ud;
  size_t old = ptr != NULL ? osize : 0;
  void *p;
  if (nsize == 0) {
    free(ptr);
    b->used -= old;
    return NULL;
  }
  if (nsize > old && b->used - old + nsize > b->limit) return NULL;
  p = realloc(ptr, nsize);
  if (p != NULL) b->used = b->used - old + nsize;
  return p;
}

static int run(lua_State *L) {
  const Job *job = (const Job *)lua_touserdata(L, 1);
  luaL_openlibs(L);
  lakehost_preload(L);
  lua_getglobal(L, "package");
  lua_pushliteral(L, "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, job->script, strlen(job->script), job->name) != LUA_OK)
    return lua_error(L);
  lua_pushlstring(L, (const char *)job->data, job->size);
  {
    void *ud;
    Budget *b;
    lua_getallocf(L, &ud);
    b = (Budget *)ud;
    b->limit = b->used + b->extra;
  }
  lua_call(L, 1, 0);
  return 0;
}

/* Runs the script on the input under a memory limit; aborts on findings. */
static void run_once(const Job *job, size_t extra, int strict) {
  Budget b = {0, (size_t)1 << 30, extra};
  lua_State *L = lua_newstate(budget_alloc, &b);
  int rc;
  if (L == NULL) return;
  lua_pushcfunction(L, run);
  lua_pushlightuserdata(L, (void *)job);
  rc = lua_pcall(L, 1, 0, 0);
  if (getenv("FUZZ_VERBOSE") != NULL) /* which runs hit the budget */
    fprintf(stderr, "extra=%zu used=%zu rc=%d %s\n", extra, b.used, rc,
            rc != LUA_OK && lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
  if (rc != LUA_OK && rc != LUA_ERRMEM) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(non-string error)";
    if (strict || strncmp(msg, "INVARIANT", 9) == 0) {
      fprintf(stderr, "%s: %s\n", job->name + 1, msg);
      abort();
    }
  }
  lua_close(L);
}

/* Both runs of one input. name is a Lua chunk name such as "=fuzz_json". */
static int fuzz_input(const uint8_t *data, size_t size, const char *script, const char *name) {
  Job job = {data, size, script, name};
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
  run_once(&job, (size_t)1 << 30, 1);
  /* a budget of up to 64 bytes per input byte: fails somewhere in the work */
  run_once(&job, h % (64 * size + 4096), 0);
  return 0;
}

#endif
