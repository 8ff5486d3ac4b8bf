/*
 * fuzz_regex.c -- libFuzzer target for host.regex: the input up to its first
 * newline is a pattern, the rest a subject. regex.compile(pattern) must give
 * a regex or nil, "regex: ... at offset N" with N within the pattern, and
 * re:test must answer true, false or nil, "regex: ... limit exceeded" for the
 * subject, the pattern itself and "".
 *
 * The driver (fuzz/driver.h) runs it twice per input, the second time under a
 * small memory budget; a broken invariant ("INVARIANT: ...") aborts.
 */
#include "driver.h"

static const char script[] =
    "local s = ...\n"
    "local regex = require('host.regex')\n"
    "local nl = s:find('\\n', 1, true)\n"
    "local p, subject = s, ''\n"
    "if nl then p, subject = s:sub(1, nl - 1), s:sub(nl + 1) end\n"
    "local re, err = regex.compile(p)\n"
    "if re == nil then\n"
    "  if err == 'regex: not enough memory' then return end\n"
    "  local off = type(err) == 'string' and err:match('^regex: .+ at offset (%d+)$')\n"
    "  if not off then error('INVARIANT: bad error value ' .. tostring(err), 0) end\n"
    "  if tonumber(off) > #p then error('INVARIANT: offset beyond the pattern: ' .. err, 0) end\n"
    "  return\n"
    "end\n"
    "if re:pattern() ~= p then error('INVARIANT: pattern() differs', 0) end\n"
    "for _, x in ipairs({subject, p, ''}) do\n"
    "  local ok, terr = re:test(x)\n"
    "  if ok == nil then\n"
    "    if type(terr) ~= 'string' or not terr:match('^regex: .*limit exceeded$') then\n"
    "      error('INVARIANT: bad test error ' .. tostring(terr), 0)\n"
    "    end\n"
    "  elseif type(ok) ~= 'boolean' then\n"
    "    error('INVARIANT: test returned ' .. tostring(ok), 0)\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_input(data, size, script, "=fuzz_regex");
}
