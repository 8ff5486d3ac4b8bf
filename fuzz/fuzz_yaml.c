/*
 * fuzz_yaml.c -- libFuzzer target for host.yaml: yaml.load(input), then
 * json.encode of what it returned (the loader's output must be a plain
 * value: tables, strings, numbers, booleans, null).
 *
 * Each input runs twice in a fresh Lua state: once with a roomy allocator,
 * once with a small memory budget derived from the input, so that Lua memory
 * errors strike at varied points of the loader; LeakSanitizer then checks
 * that the libyaml parser owned by the loader's userdata is still freed.
 * Crashes, leaks, a yaml.load that raises instead of returning nil, err, and
 * broken invariants (reported as "INVARIANT: ...") abort.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char script[] =
    "local s = ...\n"
    "local yaml, json = require('host.yaml'), require('host.json')\n"
    "local v, marks = yaml.load(s, 'fuzz')\n"
    "if v == nil then\n"
    "  if type(marks) ~= 'string' or not marks:match('^fuzz:') then\n"
    "    error('INVARIANT: bad error value ' .. tostring(marks), 0)\n"
    "  end\n"
    "  return\n"
    "end\n"
    "if type(marks) ~= 'table' then error('INVARIANT: marks is not a table', 0) end\n"
    "local ok, out = pcall(json.encode, v)\n"
    "if not ok and not tostring(out):match('^json: ') and out ~= 'not enough memory' then\n"
    "  error('INVARIANT: encode raised ' .. tostring(out), 0)\n"
    "end\n";

/* Lua allocator with a limit; run() sets limit = used + extra once the
 * libraries are open, so the budget counts only the work on the input. */
typedef struct {
  size_t used, limit, extra;
} Budget;

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
  const char *data = (const char *)lua_touserdata(L, 1);
  size_t size = (size_t)lua_tointeger(L, 2);
  luaL_openlibs(L);
  lakehost_preload(L);
  lua_getglobal(L, "package");
  lua_pushliteral(L, "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, script, sizeof script - 1, "=fuzz_yaml") != LUA_OK) return lua_error(L);
  lua_pushlstring(L, data, size);
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
static void run_once(const uint8_t *data, size_t size, size_t extra, int strict) {
  Budget b = {0, (size_t)1 << 30, extra};
  lua_State *L = lua_newstate(budget_alloc, &b);
  int rc;
  if (L == NULL) return;
  lua_pushcfunction(L, run);
  lua_pushlightuserdata(L, (void *)data);
  lua_pushinteger(L, (lua_Integer)size);
  rc = lua_pcall(L, 2, 0, 0);
  if (getenv("FUZZ_VERBOSE") != NULL) /* which runs hit the budget */
    fprintf(stderr, "extra=%zu used=%zu rc=%d %s\n", extra, b.used, rc,
            rc != LUA_OK && lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
  if (rc != LUA_OK && rc != LUA_ERRMEM) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(non-string error)";
    if (strict || strncmp(msg, "INVARIANT", 9) == 0) {
      fprintf(stderr, "fuzz_yaml: %s\n", msg);
      abort();
    }
  }
  lua_close(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
  run_once(data, size, (size_t)1 << 30, 1);
  /* a budget of up to 64 bytes per input byte: fails somewhere in the work */
  run_once(data, size, h % (64 * size + 4096), 0);
  return 0;
}
