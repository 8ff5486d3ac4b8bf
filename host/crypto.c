/* host.crypto -- placeholder until the module lands. */
#include <lauxlib.h>

#include "host.h"

int luaopen_host_crypto(lua_State *L) {
  lua_newtable(L);
  return 1;
}
