/*
 * host.h -- the host modules that lakehost preloads into every Lua state.
 *
 * Each host/<name>.c exports exactly one symbol, luaopen_host_<name>, and is
 * registered in package.preload by main.c (and by the fuzz harnesses).
 */
#ifndef LAKEHOST_HOST_H
#define LAKEHOST_HOST_H

#include <lua.h>

int luaopen_host_yaml(lua_State *L);
int luaopen_host_json(lua_State *L);
int luaopen_host_xml(lua_State *L);
int luaopen_host_crypto(lua_State *L);
int luaopen_host_sigv4(lua_State *L);
int luaopen_host_http(lua_State *L);
int luaopen_host_fs(lua_State *L);
int luaopen_host_zip(lua_State *L);
int luaopen_host_proc(lua_State *L);

/* Registers every host module in package.preload. */
void lakehost_preload(lua_State *L);

#endif
