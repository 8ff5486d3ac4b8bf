--- Small pure helpers shared by the model, synthesis and the CLI.
local M = {}

--- Keys of t sorted (strings before numbers, each by natural order).
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return a < b
  end)
  return keys
end

--- Iterates t in sorted key order (deterministic replacement for pairs).
function M.spairs(t)
  local keys, i = M.sorted_keys(t), 0
  return function()
    i = i + 1
    local k = keys[i]
    if k ~= nil then return k, t[k] end
  end
end

--- Levenshtein distance, for did-you-mean suggestions.
local function distance(a, b)
  local la, lb = #a, #b
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end
M.distance = distance

--- The closest candidate to word, or nil when none is close.
-- @param word string
-- @param candidates table array or set (keys) of strings
function M.did_you_mean(word, candidates)
  local list = #candidates > 0 and candidates or M.sorted_keys(candidates)
  local best, best_d
  local lw = word:lower()
  for _, c in ipairs(list) do
    local lc = c:lower()
    local d = distance(lw, lc)
    -- a word that starts a candidate ("next" -> "next_step") is a near miss
    if #lw >= 3 and (lc:sub(1, #lw) == lw or lw:sub(1, #lc) == lc) then d = math.min(d, 1) end
    if d < (best_d or math.huge) then best, best_d = c, d end
  end
  if best and best_d <= math.max(2, #word // 3) then return best end
  return nil
end

--- " (did you mean 'x'?)" or "".
function M.suggest(word, candidates)
  local s = M.did_you_mean(word, candidates)
  return s and (" (did you mean '%s'?)"):format(s) or ""
end

--- "a_b c" -> "a-b-c": the kebab-case used for every lake resource name.
function M.kebab(s)
  s = tostring(s):gsub("(%l)(%u)", "%1-%2"):gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")
  return s:lower()
end

--- "my_pipeline-x" -> "MyPipelineX": used for logical ids.
function M.pascal(s)
  return (tostring(s):gsub("[^%w]+", " "):gsub("(%w)(%w*)", function(a, b)
    return a:upper() .. b
  end):gsub(" ", ""))
end

--- The last n lines of s (a process's output), without trailing empty lines.
function M.last_lines(s, n)
  local lines = {}
  for l in (s or ""):gmatch("([^\n]*)\n?") do lines[#lines + 1] = l end
  while lines[#lines] == "" do lines[#lines] = nil end
  return table.concat(lines, "\n", math.max(1, #lines - n + 1))
end

--- The last line of s that is not blank, or nil.
function M.last_line(s)
  local last
  for line in (s or ""):gmatch("[^\n]+") do
    if line:match("%S") then last = line end
  end
  return last
end

--- True when the array list holds v.
function M.contains(list, v)
  for i = 1, #list do
    if list[i] == v then return true end
  end
  return false
end

--- Shallow copy.
function M.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- Merges maps left to right into a new table.
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do out[k] = v end
  end
  return out
end

--- Topological order of nodes (names) given deps[name] = {names...}:
-- Kahn's algorithm taking the smallest ready name first, so independent
-- nodes come out in name order and the result is deterministic.
-- @return array of names | nil, cycle description ("a -> b -> a")
function M.toposort(names, deps)
  local pending, waiting_on, users = {}, {}, {}
  for _, n in ipairs(names) do pending[n] = true end
  local ready = {}
  -- ready: a binary min-heap: the smallest ready name goes next (a stack
  -- every pipeline depends on makes thousands ready at once)
  local function push(u)
    local i = #ready + 1
    ready[i] = u
    while i > 1 do
      local p = i // 2
      if ready[p] <= u then break end
      ready[i], ready[p] = ready[p], u
      i = p
    end
  end
  local function pop()
    local top, last = ready[1], table.remove(ready)
    local size = #ready
    if size > 0 then
      local i = 1
      while true do
        local l, c = 2 * i, i
        local small = last
        if l <= size and ready[l] < small then c, small = l, ready[l] end
        if l + 1 <= size and ready[l + 1] < small then c = l + 1 end
        if c == i then break end
        ready[i] = ready[c]
        i = c
      end
      ready[i] = last
    end
    return top
  end
  for _, n in ipairs(names) do
    local count = 0
    for _, d in ipairs(deps[n] or {}) do
      if pending[d] then
        count = count + 1
        users[d] = users[d] or {}
        table.insert(users[d], n)
      end
    end
    waiting_on[n] = count
    if count == 0 then push(n) end
  end
  local order = {}
  while #ready > 0 do
    local n = pop()
    order[#order + 1] = n
    for _, u in ipairs(users[n] or {}) do
      waiting_on[u] = waiting_on[u] - 1
      if waiting_on[u] == 0 then push(u) end
    end
  end
  if #order == #names then return order end
  -- Some nodes wait on each other: walk dependencies from the smallest
  -- stuck node until one repeats, and report that loop.
  local stuck = {}
  for _, n in ipairs(names) do if waiting_on[n] > 0 then stuck[#stuck + 1] = n end end
  table.sort(stuck)
  local path, seen, n = {}, {}, stuck[1]
  while not seen[n] do
    seen[n] = #path + 1
    path[#path + 1] = n
    local next_n
    local ds = {}
    for _, d in ipairs(deps[n] or {}) do if waiting_on[d] and waiting_on[d] > 0 then ds[#ds + 1] = d end end
    table.sort(ds)
    next_n = ds[1]
    n = next_n
  end
  local cycle = {}
  for i = seen[n], #path do cycle[#cycle + 1] = path[i] end
  cycle[#cycle + 1] = n
  return nil, table.concat(cycle, " -> ")
end

return M
