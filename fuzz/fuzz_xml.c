/*
 * fuzz_xml.c -- libFuzzer target for host.xml: xml.decode(input) must return
 * a tree or nil, err for any bytes, and never crash, leak or raise anything
 * but a Lua error (caught by lua_pcall here).
 */
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../host/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* [input] -> require("host.xml").decode(input) */
static int decode(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "host.xml");
  lua_call(L, 1, 1); /* [input, xml] */
  lua_getfield(L, -1, "decode");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 2); /* [input, xml, root|nil, err] */
  if (lua_istable(L, -2)) {
    /* Walk the helpers over the result too. */
    lua_getfield(L, -3, "children");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 1);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 0;
  luaL_openlibs(L);
  lakehost_preload(L);
  lua_pushcfunction(L, decode);
  lua_pushlstring(L, (const char *)data, size);
  (void)lua_pcall(L, 1, 0, 0);
  lua_close(L);
  return 0;
}
