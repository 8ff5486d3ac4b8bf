--- The AWS shared config and credentials file format (an INI dialect).
--
-- Sections "[name]" hold "key = value" lines; a line starting with
-- whitespace after a key with an empty value is a sub-property (as in
-- "s3 =\n  addressing_style = path"), kept as key.sub. Comments start with
-- '#' or ';' at the beginning of a line.
local M = {}

--- Parses text into { [section] = { [key] = value } }.
-- @param text string
-- @param name string file name for messages
-- @return table | nil, string ("name:line: message") on a malformed line
function M.parse(text, name)
  local sections, current, parent = {}, nil, nil
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    local stripped = line:match("^%s*(.-)%s*$")
    if stripped == "" or stripped:match("^[#;]") then -- luacheck: ignore 542
      -- blank or comment
    elseif stripped:match("^%[.*%]$") then
      local sec = stripped:match("^%[%s*(.-)%s*%]$")
      sections[sec] = sections[sec] or {}
      current, parent = sections[sec], nil
    elseif not current then
      return nil, ("%s:%d: a setting before any [section]"):format(name, lineno)
    elseif line:match("^%s") and parent then
      local k, v = stripped:match("^([^=]-)%s*=%s*(.*)$")
      if not k then return nil, ("%s:%d: expected 'key = value'"):format(name, lineno) end
      current[parent .. "." .. k:lower()] = v
    else
      local k, v = stripped:match("^([^=]-)%s*=%s*(.*)$")
      if not k or k == "" then return nil, ("%s:%d: expected 'key = value'"):format(name, lineno) end
      k = k:lower()
      current[k] = v
      parent = (v == "") and k or nil
    end
  end
  return sections
end

return M
