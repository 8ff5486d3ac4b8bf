--- Turns host.xml element trees into plain Lua values, the way the AWS
-- query and REST-XML protocols shape them.
--
-- An element without child elements becomes its text. One whose children
-- are all <member> becomes an array. Otherwise a map from child name to
-- value; a name seen twice, or listed in `lists`, becomes an array.
local M = {}

--- @param el table a host.xml element
-- @param lists table|nil set of element names that are always arrays (S3's Contents)
function M.value(el, lists)
  lists = lists or {}
  local n = #el
  if n == 0 then return el.text or "" end
  local all_member = true
  for i = 1, n do
    if el[i].name ~= "member" then all_member = false break end
  end
  if all_member then
    local arr = {}
    for i = 1, n do arr[i] = M.value(el[i], lists) end
    return arr
  end
  local out, counts = {}, {}
  for i = 1, n do
    local c = el[i]
    counts[c.name] = (counts[c.name] or 0) + 1
  end
  for i = 1, n do
    local c = el[i]
    local v = M.value(c, lists)
    if counts[c.name] > 1 or lists[c.name] then
      out[c.name] = out[c.name] or {}
      table.insert(out[c.name], v)
    else
      out[c.name] = v
    end
  end
  return out
end

return M
