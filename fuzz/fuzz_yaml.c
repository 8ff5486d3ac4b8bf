/*
 * fuzz_yaml.c -- libFuzzer target for host.yaml: yaml.load(input), then
 * json.encode of what it returned (the loader's output must be a plain
 * value: tables, strings, numbers, booleans, null).
 *
 * The driver (fuzz/driver.h) runs it twice per input, the second time under a
 * small memory budget; a broken invariant ("INVARIANT: ...") aborts.
 */
#include "driver.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_input(data, size, script, "=fuzz_yaml");
}
