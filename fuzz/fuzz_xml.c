/*
 * fuzz_xml.c -- libFuzzer target for host.xml: xml.decode(input) must return
 * a tree or nil, "xml: ..." for any bytes, and the helpers must walk the tree.
 *
 * The driver (fuzz/driver.h) runs it twice per input, the second time under a
 * small memory budget; a broken invariant ("INVARIANT: ...") aborts.
 */
#include "driver.h"

static const char script[] =
    "local s = ...\n"
    "local xml = require('host.xml')\n"
    "local root, err = xml.decode(s)\n"
    "if root == nil then\n"
    "  if type(err) ~= 'string' or not err:match('^xml: ') then\n"
    "    error('INVARIANT: bad error value ' .. tostring(err), 0)\n"
    "  end\n"
    "  return\n"
    "end\n"
    "if type(root) ~= 'table' or type(root.name) ~= 'string' then\n"
    "  error('INVARIANT: root is not an element', 0)\n"
    "end\n"
    "xml.children(root)\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_input(data, size, script, "=fuzz_xml");
}
