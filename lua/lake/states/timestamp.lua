--- RFC 3339 timestamps as the Amazon States Language reads them.
--
-- "2016-08-18T17:33:00Z", with an uppercase T, optional fractional seconds
-- and either an uppercase Z or a numeric offset (+01:00). Pure arithmetic:
-- no os.time, no locale.
local M = {}

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function month_days(y, m)
  if m == 2 then
    local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
    return leap and 29 or 28
  end
  return ({ 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

--- Parses a timestamp.
-- @param s any
-- @return integer|nil seconds since the epoch, integer nanoseconds; nil when s is not a valid timestamp
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, se = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se)
  if mo < 1 or mo > 12 or d < 1 or d > month_days(y, mo) or h > 23 or mi > 59 or se > 59 then return nil end
  local nanos = 0
  local frac, zone = rest:match("^%.(%d+)(.*)$")
  if frac then
    if #frac > 9 then return nil end
    nanos = math.tointeger(tonumber(frac .. string.rep("0", 9 - #frac)))
    rest = zone
  end
  local offset
  if rest == "Z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([%+%-])(%d%d):(%d%d)$")
    if not sign then return nil end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then return nil end
    offset = (oh * 3600 + om * 60) * (sign == "+" and 1 or -1)
  end
  local secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset
  return math.tointeger(secs), nanos
end

--- Compares two timestamps.
-- @return integer|nil -1, 0 or 1; nil when either is not a valid timestamp
function M.compare(a, b)
  local sa, na = M.parse(a)
  local sb, nb = M.parse(b)
  if not sa or not sb then return nil end
  if sa ~= sb then return sa < sb and -1 or 1 end
  if na ~= nb then return na < nb and -1 or 1 end
  return 0
end

--- Seconds since the epoch of a timestamp, with the fraction.
-- @return number|nil
function M.epoch(s)
  local secs, nanos = M.parse(s)
  if not secs then return nil end
  if nanos == 0 then return secs end
  return secs + nanos / 1e9
end

--- Formats epoch seconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" (the context object's form).
-- @param t number seconds since the epoch
-- @return string
function M.format(t)
  local whole = math.floor(t)
  local ms = math.floor((t - whole) * 1000 + 0.5)
  if ms >= 1000 then
    whole, ms = whole + 1, ms - 1000
  end
  local days = whole // 86400
  local secs = whole - days * 86400
  local y, m, d = civil_from_days(days)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
    secs // 3600, secs % 3600 // 60, secs % 60, ms)
end

return M
