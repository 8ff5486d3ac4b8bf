/*
 * main.c -- the lakehost executable: one Lua 5.4 state with the host modules
 * and the Lua library (lua/lake, lua/resources) preloaded.
 *
 * The C side stays small on purpose: it builds the state, registers the
 * library built into the binary and hands argv to lake.cli.main under a
 * protected call. Everything a user sees (commands, --help, --version,
 * running scripts) is Lua.
 *
 * The library: tools/embed.c compiles every .lua file under lua/ into
 * lakehost_lua_modules (chunk names "@lua/lake/app.lua", debug information
 * kept, so errors and tracebacks name the source file and line); each module
 * is a package.preload entry here, the way Neovim preloads its runtime. The
 * folders of LAKEHOST_PATH go first: a module found there is loaded from that
 * file instead (LAKEHOST_PATH=lua runs a checkout's sources without a rebuild),
 * and modules the binary lacks are found there through package.path.
 *
 * Errors: lake.cli raises either a string ("file:line: message") or a table
 * {msg = ..., exit = N}. Both end as one line "lakehost: <msg>" on stderr and
 * exit status 2 (or N); LAKEHOST_DEBUG=1 adds the Lua traceback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "host.h"

#ifdef LAKEHOST_MIMALLOC
#include <mimalloc.h>
#endif

#ifndef LAKEHOST_VERSION
#define LAKEHOST_VERSION "0.0.0-dev"
#endif

static int debug_enabled(void) {
  const char *d = getenv("LAKEHOST_DEBUG");
  return d != NULL && d[0] != '\0' && strcmp(d, "0") != 0;
}

/* Pushes the package.path templates of LAKEHOST_PATH's folders,
 * "<dir>/?.lua;<dir>/?/init.lua;" for each non-empty one; "" when unset. */
static void push_user_path(lua_State *L) {
  luaL_Buffer b;
  const char *p = getenv("LAKEHOST_PATH");
  luaL_buffinit(L, &b);
  while (p != NULL && *p) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      luaL_addlstring(&b, p, len);
      luaL_addstring(&b, "/?.lua;");
      luaL_addlstring(&b, p, len);
      luaL_addstring(&b, "/?/init.lua;");
    }
    p += len;
    if (*p == ':') p++;
  }
  luaL_pushresult(&b);
}

/*
 * package.preload[name] of a module built into the binary: one closure per
 * module, upvalue 1 its index in lakehost_lua_modules, upvalue 2 the
 * LAKEHOST_PATH templates. A file of the module in those folders wins (found
 * with package.searchpath, as Lua's own searcher would find it); else the
 * embedded chunk runs. Either chunk gets what Lua's searchers give one: the
 * module name and the file it came from (":preload:" for the binary).
 *   [name, extra] -> module
 */
static int preload_module(lua_State *L) {
  const struct lakehost_embedded *m = &lakehost_lua_modules[lua_tointeger(L, lua_upvalueindex(1))];

  lua_settop(L, 2);
  if (lua_rawlen(L, lua_upvalueindex(2)) > 0) {
    const char *file;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* [name, extra, loaded] */
    lua_getfield(L, -1, LUA_LOADLIBNAME);                     /* [.., loaded, package] */
    lua_getfield(L, -1, "searchpath");                        /* [.., package, searchpath] */
    lua_pushstring(L, m->name);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_call(L, 2, 1); /* [name, extra, loaded, package, file | nil] */
    file = lua_tostring(L, -1);
    if (file != NULL) {
      if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", m->name, file,
                          lua_tostring(L, -1));
      lua_pushstring(L, m->name);
      lua_pushvalue(L, -3); /* [.., file, chunk, name, file] */
      lua_call(L, 2, 1);
      return 1;
    }
    lua_settop(L, 2);
  }
  if (luaL_loadbufferx(L, (const char *)m->data, m->size, m->chunkname, "b") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from the binary:\n\t%s", m->name,
                      lua_tostring(L, -1));
  lua_insert(L, 1); /* [chunk, name, extra] */
  lua_call(L, 2, 1);
  return 1;
}

/*
 * package.path: the LAKEHOST_PATH templates at index user, then Lua's
 * compiled-in default (the system's modules, where busted lives); the library
 * itself is preloaded (preload_library). LUA_PATH and LUA_CPATH are ignored
 * (LUA_NOENV), so the user's environment cannot swap our modules.
 * package.cpath loses "./?.so" for the same reason.
 */
static void set_paths(lua_State *L, int user) {
  lua_getglobal(L, "package"); /* [package] */
  lua_pushvalue(L, user);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2); /* [package, user .. path] */
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "cpath"); /* [package, cpath] */
  luaL_gsub(L, lua_tostring(L, -1), ";./?.so", "");
  lua_setfield(L, -3, "cpath");
  lua_pop(L, 2);
}

/* package.preload: one preload_module closure per module of the library,
 * with the LAKEHOST_PATH templates at index user. */
static void preload_library(lua_State *L, int user) {
  const struct lakehost_embedded *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); /* [preload] */
  for (m = lakehost_lua_modules; m->name != NULL; m++) {
    lua_pushinteger(L, (lua_Integer)(m - lakehost_lua_modules));
    lua_pushvalue(L, user);
    lua_pushcclosure(L, preload_module, 2);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

/* Message handler: keeps error tables (their exit code matters), adds the
 * traceback to the message only when LAKEHOST_DEBUG is set. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (lua_type(L, 1) == LUA_TTABLE) {
      if (debug_enabled()) {
        luaL_traceback(L, L, NULL, 1);
        lua_setfield(L, 1, "traceback");
      }
      return 1;
    }
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (debug_enabled())
    luaL_traceback(L, L, msg, 1);
  else
    lua_pushstring(L, msg);
  return 1;
}

/* Prints the error at the top of the stack; returns the exit status. */
static int report(lua_State *L) {
  int status = 2;
  const char *msg;
  if (lua_type(L, -1) == LUA_TTABLE) {
    if (lua_getfield(L, -1, "exit") == LUA_TNUMBER) status = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "traceback");
    lua_getfield(L, -2, "msg");
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      lua_pushstring(L, luaL_tolstring(L, -2, NULL));
      lua_remove(L, -2);
    }
    msg = lua_tostring(L, -1);
    fprintf(stderr, "lakehost: %s\n", msg);
    if (lua_type(L, -2) == LUA_TSTRING) fprintf(stderr, "%s\n", lua_tostring(L, -2));
    lua_pop(L, 2);
  } else {
    msg = lua_tostring(L, -1);
    fprintf(stderr, "lakehost: %s\n", msg ? msg : "(error object is not a string)");
  }
  fflush(stderr);
  return status;
}

/* Runs inside lua_pcall: everything that can raise happens here. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int i;

  luaL_checkversion(L);
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  luaL_openlibs(L);
  lakehost_preload(L);
  push_user_path(L); /* [argc, argv, user] */
  set_paths(L, lua_gettop(L));
  preload_library(L, lua_gettop(L));
  lua_pop(L, 1);

  lua_getglobal(L, "require");
  lua_pushliteral(L, "lake.cli");
  lua_call(L, 1, 1);           /* [cli] */
  lua_getfield(L, -1, "main"); /* [cli, main] */
  lua_createtable(L, argc, 0); /* [cli, main, argv] */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_createtable(L, 0, 2); /* [cli, main, argv, info] */
  lua_pushliteral(L, LAKEHOST_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_call(L, 2, 1);
  return 1; /* exit status from Lua (integer), nil means 0 */
}

/* Sanitizer builds free every block at the end, so that a leak report
 * means a leak; the others leave the memory to the operating system. */
#if defined(__SANITIZE_ADDRESS__)
#define LAKEHOST_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAKEHOST_FREE_AT_EXIT 1
#endif
#endif

#ifndef LAKEHOST_FREE_AT_EXIT
static lua_Alloc exit_orig;
static void *exit_orig_ud;

/* The allocator lua_close runs with: blocks are still made (finalizers
 * run Lua code) but not freed one by one, which for the model of a large
 * lake took tens of milliseconds at the end of every command; the process
 * gives them all back as it exits. */
static void *exit_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) return NULL;
  return exit_orig(exit_orig_ud, ptr, osize, nsize);
}
#endif

#ifdef LAKEHOST_MIMALLOC
/* Lua's memory comes from mimalloc. A lake's model is some 10^5 small
 * tables and strings, made and dropped while the collector runs, which is
 * the load mimalloc is built for: synth of a lake of 100 pipelines went
 * from 204 to 174 ms (median of 21, bench/synth_bench.lua's lake), the
 * example lake's stayed 17 ms. Sanitizer builds keep the C library's
 * allocator, which AddressSanitizer watches. */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    mi_free(ptr);
    return NULL;
  }
  return mi_realloc(ptr, nsize);
}

/* What luaL_newstate's panic does: an error outside any protected call. */
static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "lakehost: PANIC: unprotected error in call to Lua API (%s)\n",
          msg != NULL ? msg : "error object is not a string");
  return 0; /* Lua aborts */
}

static lua_State *new_state(void) {
  lua_State *L = lua_newstate(lua_alloc, NULL);
  if (L != NULL) lua_atpanic(L, panic); /* warnings stay off, as luaL_newstate leaves them */
  return L;
}
#else
static lua_State *new_state(void) { return luaL_newstate(); }
#endif

int main(int argc, char **argv) {
  lua_State *L = new_state();
  int status, rc;
  if (L == NULL) {
    fprintf(stderr, "lakehost: cannot create Lua state: not enough memory\n");
    return 1;
  }
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  rc = lua_pcall(L, 2, 1, 1);
  if (rc != LUA_OK) {
    status = report(L);
  } else if (lua_isinteger(L, -1)) {
    status = (int)lua_tointeger(L, -1);
  } else {
    status = lua_toboolean(L, -1) || lua_isnil(L, -1) ? 0 : 1;
  }
  fflush(stdout);
#ifndef LAKEHOST_FREE_AT_EXIT
  exit_orig = lua_getallocf(L, &exit_orig_ud);
  lua_setallocf(L, exit_alloc, NULL);
#endif
  lua_close(L); /* finalizers: children stopped, temporary files removed, ... */
  return status;
}
