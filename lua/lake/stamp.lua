--- The hash stamp: "[lakehost:<16 hex digits>]" at the end of a template's
-- Description. The hash covers the template's text and the stack's tags,
-- so deploy can tell from DescribeStacks alone (which returns the
-- Description) that a deployed stack is what synth wrote. Written by
-- lake.assembly, read by lake.deploy; the marker is known here only.
local crypto = require("host.crypto")
local json = require("host.json")

local M = {}

local DIGITS = 16
local PLACEHOLDER = "[lakehost:" .. ("0"):rep(DIGITS) .. "]"
local PATTERN = "%[lakehost:(%x+)%]"

--- Stamps a template and returns its text (pretty JSON, as synth writes
-- it). The hash is the sha256 of the text with a placeholder in the
-- stamp's place, a NUL and the tags' JSON; the placeholder is then
-- replaced (Description sorts before every section but
-- AWSTemplateFormatVersion, so its value holds the first occurrence).
-- @param tpl table the template (its Description gets the stamp)
-- @param tags table the stack's tags
-- @param replace function|nil json.encode's replace (resolves the tokens a template holds)
-- @return string
function M.put(tpl, tags, replace)
  local desc = tpl.Description
  desc = (desc and desc ~= "") and (desc .. " ") or ""
  tpl.Description = desc .. PLACEHOLDER
  local text = json.encode(tpl, { pretty = true, newline = true, replace = replace })
  local h = crypto.sha256_new()
  assert(h:update(text))
  assert(h:update("\0"))
  assert(h:update(json.encode(tags)))
  local digits = assert(h:hex()):sub(1, DIGITS)
  local stamp = "[lakehost:" .. digits .. "]"
  tpl.Description = desc .. stamp
  local at = assert(text:find(PLACEHOLDER, 1, true), "the placeholder is in the text")
  return text:sub(1, at - 1) .. stamp .. text:sub(at + #PLACEHOLDER)
end

--- The hash stamped in a Description, or nil.
function M.of(description)
  return type(description) == "string" and description:match(PATTERN) or nil
end

--- The hash stamped in a template's text (its Description), or nil.
function M.of_text(body)
  return type(body) == "string" and body:match('"Description"%s*:%s*"[^"]*' .. PATTERN) or nil
end

return M
