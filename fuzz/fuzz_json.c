/*
 * fuzz_json.c -- libFuzzer target for host.json: json.decode(input); when it
 * decodes, encode(decode(encode(v))) must equal encode(v), compact and pretty.
 *
 * The driver (fuzz/driver.h) runs it twice per input, the second time under a
 * small memory budget; a broken invariant ("INVARIANT: ...") aborts.
 */
#include "driver.h"

static const char script[] =
    "local s = ...\n"
    "local json = require('host.json')\n"
    "local v, err = json.decode(s, 'fuzz')\n"
    "if v == nil then\n"
    "  if type(err) ~= 'string' or not err:match('^fuzz:%d+:%d+: ') then\n"
    "    error('INVARIANT: bad error value ' .. tostring(err), 0)\n"
    "  end\n"
    "  return\n"
    "end\n"
    "local e1 = json.encode(v)\n"
    "local v2, err2 = json.decode(e1)\n"
    "if v2 == nil then error('INVARIANT: re-decode failed: ' .. err2, 0) end\n"
    "local e2 = json.encode(v2)\n"
    "if e1 ~= e2 then error('INVARIANT: encode(decode(encode(v))) differs', 0) end\n"
    "local v3, err3 = json.decode(json.encode(v2, {pretty = true}))\n"
    "if v3 == nil then error('INVARIANT: pretty re-decode failed: ' .. err3, 0) end\n"
    "if json.encode(v3) ~= e1 then error('INVARIANT: pretty round trip differs', 0) end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_input(data, size, script, "=fuzz_json");
}
