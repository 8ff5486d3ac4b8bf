/* host.fs -- placeholder until the module lands. */
#include <lauxlib.h>

#include "host.h"

int luaopen_host_fs(lua_State *L) {
  lua_newtable(L);
  return 1;
}
