/* host.sigv4 -- placeholder until the module lands. */
#include <lauxlib.h>

#include "host.h"

int luaopen_host_sigv4(lua_State *L) {
  lua_newtable(L);
  return 1;
}
