--- Module folders of a pipeline (trigger/, catch/, steps/<module>/) and the
-- lake's shared/manifest.json, checked as lake.load read them.
--
-- Each module is a folder with src/index.py and requirements.json
-- ({"packages": [...], "extra_jars": [...], "shared_modules": [...]}).
-- Problems are collected in a lake.pipeline.checker; nothing here reads a
-- file: the folders' listings, digests and texts come from the load phase.
local checker = require("lake.pipeline.checker")
local json = require("host.json")
local util = require("lake.util")

local M = {}

M.REQUIREMENT_KEYS = { "packages", "extra_jars", "shared_modules" }
M.SHARED_KEYS = { "packages", "extra_jars" }

--- Line number of the 1-based byte offset pos in text.
local function line_at(text, pos)
  local n, at = 1, text:find("\n", 1, true)
  while at and at < pos do
    n = n + 1
    at = text:find("\n", at + 1, true)
  end
  return n
end

--- The line a JSON decode error points at, and the message without its
-- position ("json:3:1: expected value" -> 3, "expected value"); nil, err
-- when it names no line.
function M.error_line(text, err)
  err = tostring(err)
  local jl, rest = err:match("^json:(%d+):%d+: (.*)$")
  if jl then return tonumber(jl), rest end
  local l = err:match("line (%d+)")
  if l then return tonumber(l) end
  local c = err:match("character (%d+)")
  if c then return line_at(text, tonumber(c)) end
  return nil
end

-- Marks for a decoded JSON object of lists: the line of each top-level key
-- and of each string item, found in the text (JSON decoders keep no
-- positions; the first occurrence after the key is the item).
local function json_marks(text, value)
  local marks = {}
  if type(value) ~= "table" then return marks end
  local top = { line = 1, keys = {} }
  if getmetatable(value) == json.array_mt then top = { line = 1, items = {} } end
  marks[value] = top
  if not top.keys then return marks end
  for k, v in pairs(value) do
    if type(k) == "string" then
      local pos = text:find('"' .. k .. '"%s*:')
      local kl = pos and line_at(text, pos) or 1
      top.keys[k] = kl
      if type(v) == "table" then
        local m = { line = kl }
        if getmetatable(v) == json.object_mt or (next(v) ~= nil and #v == 0) then
          m.keys = {}
        else
          m.items = {}
          local from = pos or 1
          for i, x in ipairs(v) do
            local p = type(x) == "string" and text:find('"' .. x:gsub("%p", "%%%0") .. '"', from)
            if p then
              m.items[i] = line_at(text, p)
              from = p + #x + 2
            else
              m.items[i] = kl
            end
          end
        end
        marks[v] = m
      end
    end
  end
  return marks
end

-- Decodes a JSON file's text (as loaded: { text = } | { error = }); records a
-- problem and returns nil when it is not valid JSON. Returns value, and a
-- checker for the file's own problems.
local function decode(ck, rel, loaded)
  if loaded.error then
    ck:add(nil, nil, ("cannot read: %s"):format(loaded.error), rel)
    return nil
  end
  local text = loaded.text
  local value, derr = json.decode(text)
  if value == nil then
    local line, msg = M.error_line(text, derr)
    ck:add(line, nil, "invalid JSON: " .. (msg or tostring(derr)), rel)
    return nil
  end
  -- the lines are found only when a problem needs one
  return value, checker.new(rel, function() return json_marks(text, value) end)
end

-- Copies the problems of a per-file checker into ck.
local function merge(ck, fck)
  for _, p in ipairs(fck.problems) do ck.problems[#ck.problems + 1] = p end
end

--- Checks shared/manifest.json as lake.load read it.
-- @param ck checker collecting problems
-- @param shared table lake.load.shared's answer
-- @return manifest { [name] = { name=, dir=, rel=, packages = {...}, extra_jars = {...}, files=, sums=, sizes= } }
function M.manifest(ck, shared)
  local out = {}
  if not shared or not shared.manifest then return out end
  local rel = shared.rel .. "/manifest.json"
  local value, fck = decode(ck, rel, shared.manifest)
  if value == nil then return out end
  if fck:expect(value, "mapping", 1, "(top level)") then
    for _, name in ipairs(util.sorted_keys(value)) do
      local entry, line = value[name], fck:line_of(value, name, 1)
      local key = tostring(name)
      if type(name) ~= "string" or not name:match("^[A-Za-z_][A-Za-z0-9_]*$") then
        fck:add(line, key, "shared module names are Python package names (letters, digits, '_')")
      elseif fck:expect(entry, "mapping", line, key) then
        fck:unknown_keys(entry, M.SHARED_KEYS, key)
        local mod = { name = name, dir = shared.dir .. "/" .. name, rel = shared.rel .. "/" .. name,
          packages = {}, extra_jars = {} }
        for _, f in ipairs(M.SHARED_KEYS) do
          if entry[f] ~= nil and fck:string_list(entry[f], line, key .. "." .. f) then mod[f] = entry[f] end
        end
        local folder = shared.folders[name]
        if not folder then
          fck:add(line, key, ("declared, but there is no folder %s"):format(mod.rel))
        else
          mod.files, mod.sums, mod.sizes = folder.files, folder.sums, folder.sizes
          mod.init = shared.init
          out[name] = mod
        end
      end
    end
  end
  merge(ck, fck)
  return out
end

--- Checks one module folder and its requirements.json.
-- @param ck checker of the pipeline's config.yml
-- @param m table|nil the module as lake.load read it (nil: there is no such folder)
-- @param opts table { rel = the folder as the user types it (for a missing one),
--   key = config key to blame (e.g. "steps.A.properties.module" or "trigger"), line = its line|nil,
--   name = the module's name|nil, siblings = names under steps/ to suggest from|nil,
--   what = "module"|"trigger"|"catch", jars = false: the module runs where jars cannot go,
--   runs_as = what it runs as ("a Lambda function"), for that message }
-- @param manifest table from M.manifest
-- @return module { dir=, rel=, index=, src_files, src_sums, src_sizes, packages=, extra_jars=,
--   shared = { {name=, dir=, rel=, packages=, extra_jars=, files=, sums=, sizes=, init=} } } | nil
function M.check(ck, m, opts, manifest)
  if not (m and m.exists) then
    local hint = ""
    if opts.siblings and opts.name then hint = checker.suggest(opts.name, opts.siblings) end
    local msg = ("no folder %s%s"):format(m and m.rel or opts.rel, hint)
    if opts.what == "trigger" or opts.what == "catch" then
      msg = msg .. (": every pipeline needs a %s module (src/index.py and requirements.json)"):format(opts.what)
    end
    ck:add(opts.line, opts.key, msg)
    return nil
  end
  local ok = true
  -- a walk lists files only: a folder named index.py is not the file
  if not (m.src and util.contains(m.src.files, "index.py")) then
    ck:add(opts.line, opts.key, ("%s/src/index.py is missing"):format(m.rel))
    ok = false
  end
  local req_rel = m.rel .. "/requirements.json"
  if m.requirements.missing then
    ck:add(opts.line, opts.key, ("%s is missing (it lists packages, extra_jars and shared_modules)"):format(req_rel))
    return nil
  end
  local value, fck = decode(ck, req_rel, m.requirements)
  if value == nil then return nil end
  local src = m.src or {}
  local mod = { dir = m.dir, rel = m.rel, index = m.dir .. "/src/index.py", src_files = src.files,
    src_sums = src.sums, src_sizes = src.sizes, packages = {}, extra_jars = {}, shared = {} }
  if not fck:expect(value, "mapping", 1, "(top level)") then
    merge(ck, fck)
    return nil
  end
  fck:unknown_keys(value, M.REQUIREMENT_KEYS, "")
  for _, f in ipairs(M.REQUIREMENT_KEYS) do
    local v = value[f]
    local line = fck:line_of(value, f, 1)
    if v ~= nil and fck:string_list(v, line, f) then
      if f == "shared_modules" then
        for i, name in ipairs(v) do
          local s = manifest[name]
          if s then
            mod.shared[#mod.shared + 1] = { name = name, dir = s.dir, rel = s.rel, packages = s.packages,
              extra_jars = s.extra_jars, files = s.files, sums = s.sums, sizes = s.sizes, init = s.init }
          else
            local declared = util.sorted_keys(manifest)
            fck:add(fck:line_of(v, i, line), ("shared_modules[%d]"):format(i),
              ("'%s' is not declared in shared/manifest.json (declared: %s)%s"):format(name,
                #declared > 0 and table.concat(declared, ", ") or "none", checker.suggest(name, declared)))
          end
        end
      elseif f == "extra_jars" then
        for i, url in ipairs(v) do
          -- an optional pin "#sha256=<hex>" follows the URL (lake.assets checks it)
          if not url:gsub("#sha256=%x+$", ""):match("^https?://[^%s]+%.jar$") then
            fck:add(fck:line_of(v, i, 1), ("extra_jars[%d]"):format(i),
              ("'%s' is not a URL to a .jar (https://...jar)"):format(url))
          end
        end
        if #v > 0 and opts.jars == false then
          fck:add(fck:line_of(value, f, 1), f, ("only Glue jobs take jars; this module runs as %s"):format(opts.runs_as))
        end
        mod.extra_jars = v
      else
        mod.packages = v
      end
    end
  end
  merge(ck, fck)
  if not ok or #fck.problems > 0 then return nil end
  return mod
end

return M
