--- What a module needs besides its code: the pip requirements and the jars
-- of the module and of every shared module it declares, merged.
--
-- Pure Lua, no I/O: the files were read and checked by
-- lake.pipeline.modules; this only merges what it returned. Two sources that
-- ask for one package (names compared as PEP 503 normalises them) in two
-- different ways, or for one jar with two different pins, are refused with
-- a message naming both sources.
local M = {}

--- PEP 503 normal form of a distribution name: lowercase, every run of
-- '-', '_' and '.' replaced by one '-'.
-- https://peps.python.org/pep-0503/#normalized-names
-- @param name string
-- @return string
function M.normalize(name)
  return (name:lower():gsub("[-_.]+", "-"))
end

--- Splits a pip requirement ("Requests[socks] >= 2.31 ; python_version > '3.8'")
-- into its name and the rest. Options ("-r file", "--index-url ...") and
-- anything without a distribution name first are refused: requirements go
-- into a requirements file, where pip would obey options.
-- @param text string
-- @return { text = trimmed text, name =, norm = normalized name, spec = canonical rest } |
--   nil, string on failure
function M.parse(text)
  if type(text) ~= "string" then return nil, ("%s is not a pip requirement (a string)"):format(tostring(text)) end
  local t = text:match("^%s*(.-)%s*$")
  if t:find("[\r\n]") then return nil, ("'%s' is not a pip requirement: one requirement per entry"):format(t) end
  local name, rest = t:match("^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")
  if not name or (rest ~= "" and not rest:match("^[%s%[<>=!~;@(]")) then
    return nil, ("'%s' is not a pip requirement (name[extras] and a version specifier, e.g. requests==2.32.3)")
      :format(t)
  end
  if name:match("[._-]$") then
    return nil, ("'%s' is not a pip requirement: a name ends with a letter or a digit"):format(t)
  end
  -- Two spellings of one requirement compare equal: no blanks, lowercase
  -- extras (versions and markers keep their case).
  local spec = rest:gsub("%s+", ""):gsub("^%[[^%]]*%]", function(e) return e:lower() end)
  return { text = t, name = name, norm = M.normalize(name), spec = spec }
end

--- Merges the packages of several sources.
-- @param sources array of { label = "pipelines/p/steps/a/requirements.json", packages = {...} }
-- @return sorted array of requirement strings (by normalized name) | nil, string on failure
function M.merge_packages(sources)
  local by_name, list = {}, {}
  for _, src in ipairs(sources) do
    for _, text in ipairs(src.packages or {}) do
      local r, err = M.parse(text)
      if not r then return nil, ("%s (%s)"):format(err, src.label) end
      local prev = by_name[r.norm]
      if not prev then
        r.label = src.label
        by_name[r.norm] = r
        list[#list + 1] = r
      elseif prev.spec ~= r.spec then
        return nil, ("%s (%s) conflicts with %s (%s)"):format(prev.text, prev.label, r.text, src.label)
      end
    end
  end
  table.sort(list, function(a, b) return a.norm < b.norm end)
  local out = {}
  for i, r in ipairs(list) do out[i] = r.text end
  return out
end

--- Splits a jar entry "URL" or "URL#sha256=<64 hex>".
-- @param text string
-- @return { url =, sha256 = lowercase hex | nil, text = } | nil, string on failure
function M.parse_jar(text)
  if type(text) ~= "string" then return nil, ("%s is not a jar URL (a string)"):format(tostring(text)) end
  local url, frag = text:match("^([^#]*)#(.*)$")
  url = url or text
  if not url:match("^https?://[^%s]+$") then
    return nil, ("'%s' is not a jar URL (http:// or https://)"):format(text)
  end
  local sha
  if frag then
    sha = frag:match("^sha256=(%x+)$")
    if not sha or #sha ~= 64 then
      return nil, ("'%s': a pin is written #sha256=<64 hex digits>"):format(text)
    end
    sha = sha:lower()
  end
  return { url = url, sha256 = sha, text = text }
end

--- Merges the jars of several sources; one URL listed twice is one jar.
-- @param sources array of { label =, extra_jars = {...} }
-- @return array of { url =, sha256 =, text = } sorted by URL | nil, string on failure
function M.merge_jars(sources)
  local by_url, list = {}, {}
  for _, src in ipairs(sources) do
    for _, text in ipairs(src.extra_jars or {}) do
      local j, err = M.parse_jar(text)
      if not j then return nil, ("%s (%s)"):format(err, src.label) end
      local prev = by_url[j.url]
      if not prev then
        j.label = src.label
        by_url[j.url] = j
        list[#list + 1] = j
      elseif j.sha256 and prev.sha256 and j.sha256 ~= prev.sha256 then
        return nil, ("%s (%s) conflicts with %s (%s)"):format(prev.text, prev.label, j.text, src.label)
      elseif j.sha256 and not prev.sha256 then
        prev.sha256, prev.text, prev.label = j.sha256, j.text, src.label
      end
    end
  end
  table.sort(list, function(a, b) return a.url < b.url end)
  return list
end

-- "<folder of shared/>/manifest.json: <name>": where a shared module's
-- requirements were declared.
local function shared_label(rel, name)
  return ("%s/manifest.json: %s"):format(rel:match("^(.*)/[^/]+$") or "shared", name)
end

--- The sources of a checked module (lake.pipeline.modules.check): its own
-- requirements.json, then each declared shared module in declared order.
-- @param mod table { rel=, packages=, extra_jars=, shared = { {name=, rel=, packages=, extra_jars=} } }
-- @return array of { label =, packages =, extra_jars = }
function M.sources(mod)
  local out = { { label = (mod.rel or mod.dir or "module") .. "/requirements.json",
    packages = mod.packages, extra_jars = mod.extra_jars } }
  for _, s in ipairs(mod.shared or {}) do
    out[#out + 1] = { label = shared_label(s.rel or s.dir or "shared", s.name),
      packages = s.packages, extra_jars = s.extra_jars }
  end
  return out
end

return M
