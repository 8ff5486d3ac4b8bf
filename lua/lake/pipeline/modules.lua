--- Module folders of a pipeline (trigger/, catch/, steps/<module>/) and the
-- lake's shared/manifest.json.
--
-- Each module is a folder with src/index.py and requirements.json
-- ({"packages": [...], "extra_jars": [...], "shared_modules": [...]}).
-- Problems are collected in a lake.pipeline.config checker; files are read
-- through an injected { fs =, json = } (host.fs and host.json by default).
local config = require("lake.pipeline.config")
local util = require("lake.util")

local M = {}

M.REQUIREMENT_KEYS = { "packages", "extra_jars", "shared_modules" }
M.SHARED_KEYS = { "packages", "extra_jars" }

local function host_io(io_)
  io_ = io_ or {}
  return { fs = io_.fs or require("host.fs"), json = io_.json or require("host.json") }
end

--- Line number of the 1-based byte offset pos in text.
local function line_at(text, pos)
  local n = 1
  for _ in text:sub(1, math.max(pos - 1, 0)):gmatch("\n") do n = n + 1 end
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
local function json_marks(text, value, json)
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

-- Reads and decodes a JSON file; records a problem and returns nil when it
-- is not valid JSON. Returns value, checker (for the file's own problems).
local function read_json(ck, path, rel, io_, text)
  local err
  if not text then text, err = io_.fs.read(path) end
  if not text then
    ck:add(nil, nil, ("cannot read: %s"):format(tostring(err)), rel)
    return nil
  end
  local ok, value, derr = pcall(io_.json.decode, text)
  if not ok or value == nil then
    local line, msg = M.error_line(text, tostring(ok and derr or value))
    ck:add(line, nil, "invalid JSON: " .. (msg or tostring(ok and derr or value)), rel)
    return nil
  end
  -- Lines are looked up only to report a problem: find them then.
  local marks = setmetatable({}, { __index = function(t, k)
    setmetatable(t, nil)
    for tbl, m in pairs(json_marks(text, value, io_.json)) do t[tbl] = m end
    return rawget(t, k)
  end })
  local fck = config.checker(rel, marks)
  return value, fck
end

-- Copies the problems of a per-file checker into ck.
local function merge(ck, fck)
  for _, p in ipairs(fck.problems) do ck.problems[#ck.problems + 1] = p end
end

--- Loads and checks shared/manifest.json.
-- @param ck checker collecting problems
-- @param ctx table { dir = real path of shared/, rel = "shared" as the user types it, io = {fs=, json=} }
-- @return manifest { [name] = { name=, dir=, rel=, packages = {...}, extra_jars = {...} } },
--   present (boolean: the file exists)
function M.load_manifest(ck, ctx)
  local io_ = host_io(ctx.io)
  local path, rel = ctx.dir .. "/manifest.json", ctx.rel .. "/manifest.json"
  local out = {}
  if not io_.fs.isfile(path) then return out, false end
  local value, fck = read_json(ck, path, rel, io_)
  if value == nil then return out, true end
  if fck:expect(value, "mapping", 1, "(top level)") then
    for _, name in ipairs(util.sorted_keys(value)) do
      local entry, line = value[name], fck:line_of(value, name, 1)
      local key = tostring(name)
      if type(name) ~= "string" or not name:match("^[A-Za-z_][A-Za-z0-9_]*$") then
        fck:add(line, key, "shared module names are Python package names (letters, digits, '_')")
      elseif fck:expect(entry, "mapping", line, key) then
        fck:unknown_keys(entry, M.SHARED_KEYS, key)
        local mod = { name = name, dir = ctx.dir .. "/" .. name, rel = ctx.rel .. "/" .. name,
          packages = {}, extra_jars = {} }
        for _, f in ipairs(M.SHARED_KEYS) do
          if entry[f] ~= nil and fck:string_list(entry[f], line, key .. "." .. f) then mod[f] = entry[f] end
        end
        if not io_.fs.isdir(mod.dir) then
          fck:add(line, key, ("declared, but there is no folder %s"):format(mod.rel))
        else
          out[name] = mod
        end
      end
    end
  end
  merge(ck, fck)
  return out, true
end

--- Checks one module folder and its requirements.json.
-- @param ck checker of the pipeline's config.yml
-- @param m table { dir = real path, rel = path as the user types it, runs = "lambda"|"glue",
--   key = config key to blame (e.g. "steps.A.properties.module" or "trigger"), line = its line|nil,
--   siblings_of = folder whose entries to suggest from (listed only then)|nil,
--   what = "module"|"trigger"|"catch" }
-- @param manifest table from load_manifest
-- @param io_ table|nil { fs=, json= }
-- @return module { dir=, rel=, index=, src_files = paths under src/ (fs.walk), src_sums =, src_sizes = their
--   sha256 and sizes (nil when the walk gave none), packages=, extra_jars=,
--   shared = { {name=, dir=, rel=} } } | nil
function M.check(ck, m, manifest, io_)
  io_ = host_io(io_)
  local fs = io_.fs
  local req_path, req_rel = m.dir .. "/requirements.json", m.rel .. "/requirements.json"
  -- the usual case first: requirements.json reads, so the folder is there
  local text = fs.read(req_path)
  if text == nil and not fs.isdir(m.dir) then
    local hint = ""
    if m.siblings_of and m.name then
      hint = config.suggest(m.name, fs.isdir(m.siblings_of) and fs.list(m.siblings_of) or {})
    end
    local msg = ("no folder %s%s"):format(m.rel, hint)
    if m.what == "trigger" or m.what == "catch" then
      msg = msg .. (": every pipeline needs a %s module (src/index.py and requirements.json)"):format(m.what)
    end
    ck:add(m.line, m.key, msg)
    return nil
  end
  local ok = true
  local index = m.dir .. "/src/index.py"
  -- the files of src/, kept on the module with their sha256 and size: its
  -- archive is made of them, so synthesis neither walks the folder again
  -- nor opens each file by its long path to hash it (a walk lists files
  -- only: a folder named index.py is not the file)
  local src_files, src_sums, src_sizes = fs.walk(m.dir .. "/src", { sha256 = true })
  if not (src_files and util.contains(src_files, "index.py")) then
    ck:add(m.line, m.key, ("%s/src/index.py is missing"):format(m.rel))
    ok = false
  end
  if text == nil and not fs.isfile(req_path) then
    ck:add(m.line, m.key, ("%s is missing (it lists packages, extra_jars and shared_modules)"):format(req_rel))
    return nil
  end
  local value, fck = read_json(ck, req_path, req_rel, io_, text)
  if value == nil then return nil end
  local mod = { dir = m.dir, rel = m.rel, index = index, src_files = src_files, packages = {}, extra_jars = {},
    shared = {}, src_sums = type(src_sums) == "table" and src_sums or nil,
    src_sizes = type(src_sums) == "table" and src_sizes or nil }
  if not fck:expect(value, "mapping", 1, "(top level)") then
    merge(ck, fck)
    return nil
  end
  fck:unknown_keys(value, M.REQUIREMENT_KEYS, "")
  for _, f in ipairs(M.REQUIREMENT_KEYS) do
    local v = value[f]
    -- the lines of requirements.json are found only to report a problem
    local function line() return fck:line_of(value, f, 1) end
    if v ~= nil and fck:string_list(v, line, f) then
      if f == "shared_modules" then
        for i, name in ipairs(v) do
          local s = manifest[name]
          if s then
            mod.shared[#mod.shared + 1] = { name = name, dir = s.dir, rel = s.rel,
              packages = s.packages, extra_jars = s.extra_jars }
          else
            local declared = util.sorted_keys(manifest)
            fck:add(fck:line_of(v, i, line), ("shared_modules[%d]"):format(i),
              ("'%s' is not declared in shared/manifest.json (declared: %s)%s"):format(name,
                #declared > 0 and table.concat(declared, ", ") or "none", config.suggest(name, declared)))
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
        if #v > 0 and m.runs == "lambda" then
          fck:add(fck:line_of(value, f, 1), f, "only Glue jobs take jars; this module runs as a Lambda function")
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
