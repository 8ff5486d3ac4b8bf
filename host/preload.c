/* preload.c -- the single list of host modules (shared by main.c and fuzz/). */
#include <lauxlib.h>

#include "host.h"

static const luaL_Reg host_modules[] = {
    {"host.yaml", luaopen_host_yaml},
    {"host.json", luaopen_host_json},
    {"host.xml", luaopen_host_xml},
    {"host.crypto", luaopen_host_crypto},
    {"host.sigv4", luaopen_host_sigv4},
    {"host.http", luaopen_host_http},
    {"host.fs", luaopen_host_fs},
    {"host.zip", luaopen_host_zip},
    {"host.proc", luaopen_host_proc},
    {"host.regex", luaopen_host_regex},
    {"host.watch", luaopen_host_watch},
    {"host.embedded", luaopen_host_embedded},
    {NULL, NULL},
};

void lakehost_preload(lua_State *L) {
  const luaL_Reg *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); /* [preload] */
  for (m = host_modules; m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}
