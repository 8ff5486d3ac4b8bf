/*
 * main.c -- the lakehost executable: one Lua 5.4 state with the host modules
 * preloaded and the Lua library (lua/lake, lua/resources) on package.path.
 *
 * The C side stays small on purpose: it builds the state, finds the library
 * and hands argv to lake.cli.main under a protected call. Everything a user
 * sees (commands, --help, --version, running scripts) is Lua.
 *
 * Errors: lake.cli raises either a string ("file:line: message") or a table
 * {msg = ..., exit = N}. Both end as one line "lakehost: <msg>" on stderr and
 * exit status 2 (or N); LAKEHOST_DEBUG=1 adds the Lua traceback.
 */
#define _XOPEN_SOURCE 700

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "host.h"

#ifndef LAKEHOST_VERSION
#define LAKEHOST_VERSION "0.0.0-dev"
#endif

/* Where the Lua library may sit, relative to the binary's directory: the
 * source tree (./lakehost, build/lakehost) and `make install`. */
static const char *const lib_candidates[] = {"/lua", "/../lua", "/../share/lakehost/lua", NULL};

static int debug_enabled(void) {
  const char *d = getenv("LAKEHOST_DEBUG");
  return d != NULL && d[0] != '\0' && strcmp(d, "0") != 0;
}

/* First candidate directory that holds lake/cli.lua. */
static int find_lib(const char *dir, char *out, size_t outsz) {
  const char *const *c;
  char probe[PATH_MAX + 64];
  struct stat st;
  for (c = lib_candidates; *c != NULL; c++) {
    if ((size_t)snprintf(out, outsz, "%s%s", dir, *c) >= outsz) continue;
    if ((size_t)snprintf(probe, sizeof probe, "%s/lake/cli.lua", out) >= sizeof probe) continue;
    if (stat(probe, &st) == 0 && S_ISREG(st.st_mode)) {
      /* "bin/../share/..." -> "share/...": tracebacks and errors read better */
      char clean[PATH_MAX];
      if (realpath(out, clean) != NULL && strlen(clean) < outsz) strcpy(out, clean);
      return 0;
    }
  }
  return -1;
}

/* Directory of the running executable (/proc/self/exe, else argv[0]). */
static int exe_dir(const char *argv0, char *out, size_t outsz) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  char *slash;
  if (n > 0) {
    buf[n] = '\0';
  } else if (argv0 == NULL || realpath(argv0, buf) == NULL) {
    return -1;
  }
  slash = strrchr(buf, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  if ((size_t)snprintf(out, outsz, "%s", buf[0] ? buf : "/") >= outsz) return -1;
  return 0;
}

/*
 * package.path: each LAKEHOST_PATH entry, then the library beside the binary
 * (source tree: <dir>/lua; installed: <dir>/../share/lakehost/lua), then Lua's
 * compiled-in default (the system's modules, where busted lives). LUA_PATH
 * and LUA_CPATH are ignored (LUA_NOENV), so the user's environment cannot
 * swap our modules. package.cpath loses "./?.so" for the same reason.
 */
static void set_paths(lua_State *L, const char *argv0) {
  luaL_Buffer b;
  char dir[PATH_MAX], lib[PATH_MAX + 64];
  const char *env = getenv("LAKEHOST_PATH");

  lua_getglobal(L, "package"); /* [package] */
  luaL_buffinit(L, &b);
  if (env != NULL && env[0] != '\0') {
    const char *p = env;
    while (*p) {
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
  }
  if (exe_dir(argv0, dir, sizeof dir) == 0 && find_lib(dir, lib, sizeof lib) == 0) {
    luaL_addstring(&b, lib);
    luaL_addstring(&b, "/?.lua;");
    luaL_addstring(&b, lib);
    luaL_addstring(&b, "/?/init.lua;");
    lua_pushstring(L, lib);
    lua_setfield(L, LUA_REGISTRYINDEX, "lakehost.libdir");
  }
  lua_getfield(L, -2, "path"); /* [package, buf..., path] */
  luaL_addvalue(&b);
  luaL_pushresult(&b); /* [package, newpath] */
  lua_setfield(L, -2, "path");

  lua_getfield(L, -1, "cpath"); /* [package, cpath] */
  luaL_gsub(L, lua_tostring(L, -1), ";./?.so", "");
  lua_setfield(L, -3, "cpath");
  lua_pop(L, 2);
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
  set_paths(L, argv[0]);

  lua_getglobal(L, "require");
  lua_pushliteral(L, "lake.cli");
  lua_call(L, 1, 1);           /* [cli] */
  lua_getfield(L, -1, "main"); /* [cli, main] */
  lua_createtable(L, argc, 0); /* [cli, main, argv] */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_createtable(L, 0, 3); /* [cli, main, argv, info] */
  lua_pushliteral(L, LAKEHOST_VERSION);
  lua_setfield(L, -2, "version");
  lua_getfield(L, LUA_REGISTRYINDEX, "lakehost.libdir");
  lua_setfield(L, -2, "libdir");
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

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
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
