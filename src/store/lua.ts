/**
 * The Lua scripts the Redis store runs: one script per decision, so a decision is atomic and costs one round trip.
 *
 * Contract: each script is a line-by-line transcription of a pure TypeScript function and must stay so:
 * - `RATE_LIMIT`     ↔ `slidingWindowDecide` (`src/limits/sliding-window.ts`)
 * - `LOCKOUT_CHECK`  ↔ `checkAttempt`        (`src/lockout/policy.ts`)
 * - `LOCKOUT_RECORD` ↔ `recordOutcome`       (`src/lockout/policy.ts`)
 * The same behaviour table runs against the memory store (the TypeScript) and the Redis store (this Lua); a change
 * on one side only fails it. Every key a script writes gets its TTL in the same script (PEXPIRE relative to the
 * caller's `now`), or is deleted when nothing is left worth keeping. Numbers: Lua numbers are doubles like
 * JavaScript's, the arithmetic runs in the same order, and every value returned to Redis is an integer.
 *
 * KEYS of one script share a hash slot in Cluster mode (see `./keys.ts`).
 */

/**
 * KEYS[1] = window hash {w, c, p}. ARGV = limit, windowMs, now, want (default 1).
 * Returns {allowed 0|1, remaining, resetMs, granted}.
 */
export const RATE_LIMIT = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4]) or 1
local idx = math.floor(now / window)
local elapsed = now - idx * window
local c = 0
local p = 0
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local sw = tonumber(s[1])
if sw then
  if sw > idx then
    idx = sw
    elapsed = 0
    c = tonumber(s[2]) or 0
    p = tonumber(s[3]) or 0
  elseif sw == idx then
    c = tonumber(s[2]) or 0
    p = tonumber(s[3]) or 0
  elseif sw == idx - 1 then
    p = tonumber(s[2]) or 0
  end
end
local estimate = (p * (window - elapsed)) / window + c
local granted = math.min(want, math.floor(limit - estimate))
if granted < 0 then granted = 0 end
local allowed = 0
local after = estimate
if granted >= 1 then
  allowed = 1
  c = c + granted
  after = estimate + granted
  redis.call('HSET', KEYS[1], 'w', idx, 'c', c, 'p', p)
  redis.call('PEXPIRE', KEYS[1], (idx + 2) * window - now)
end
local remaining = math.floor(limit - after)
if remaining < 0 then remaining = 0 end
local target = limit - remaining - 1
if target < 0 then target = 0 end
local wait = 0
if c <= target then
  if p ~= 0 then
    local at = window - ((target - c) * window) / p
    if at > elapsed then wait = math.ceil(at - elapsed) end
  end
else
  local at = window - (target * window) / c
  wait = math.ceil(window - elapsed + at)
end
return {allowed, remaining, wait, granted}
`

/**
 * Shared prelude of the lockout scripts.
 * KEYS[1] = account hash {f, ws, lu, lv}, KEYS[2] = address hash {f, ws, lu}, KEYS[3] = device hash {f, ws}
 * (a placeholder key in the same slot when there is no device; never touched then).
 * ARGV = now, maxFailures, windowMs, lockMs, maxLockMs, ipMaxFailures, ipWindowMs, ipLockMs, deviceMaxFailures,
 *        hasDevice (1|0), then per script.
 */
const LOCKOUT_PRELUDE = `
local now = tonumber(ARGV[1])
local maxF = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local lockMs = tonumber(ARGV[4])
local maxLock = tonumber(ARGV[5])
local ipMax = tonumber(ARGV[6])
local ipWin = tonumber(ARGV[7])
local ipLock = tonumber(ARGV[8])
local devMax = tonumber(ARGV[9])
local hasDev = ARGV[10] == '1'

local function load(key)
  local v = redis.call('HMGET', key, 'f', 'ws', 'lu', 'lv')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end

local function save(key, expiresAt, ...)
  if expiresAt <= now then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, ...)
    redis.call('PEXPIRE', key, expiresAt - now)
  end
end

local function acctExp(f, ws, lu)
  local w = 0
  if ws > 0 and f > 0 then w = ws + win end
  local l = 0
  if lu > 0 then l = lu + maxLock end
  if w > l then return w end
  return l
end

local function ipExp(f, ws, lu)
  local w = 0
  if ws > 0 and f > 0 then w = ws + ipWin end
  if w > lu then return w end
  return lu
end

local function devExp(f, ws)
  if ws > 0 and f > 0 then return ws + win end
  return 0
end

local af, aws, alu, alv = load(KEYS[1])
if aws > 0 and now - aws >= win then
  af = 0
  aws = 0
end
local iff, iws, ilu = load(KEYS[2])
if iws > 0 and now - iws >= ipWin then
  iff = 0
  iws = 0
end
`

/** Returns {allowed 0|1, viaDevice 0|1, reason 0|1 account|2 address, retryAfterMs, accountFailures, ipFailures}. */
export const LOCKOUT_CHECK = `${LOCKOUT_PRELUDE}
if hasDev and devMax > 0 then
  local df, dws = load(KEYS[3])
  if dws > 0 and now - dws >= win then
    df = 0
    dws = 0
  end
  if df < devMax then
    df = df + 1
    if dws == 0 then dws = now end
    save(KEYS[3], devExp(df, dws), 'f', df, 'ws', dws)
    return {1, 1, 0, 0, af, iff}
  end
end
local function deny(reason, untilMs)
  local r = untilMs - now
  if r < 1 then r = 1 end
  return {0, 0, reason, r, af, iff}
end
if alu > now then return deny(1, alu) end
if ipMax > 0 and ilu > now then return deny(2, ilu) end
if af >= maxF then return deny(1, aws + win) end
if ipMax > 0 and iff >= ipMax then return deny(2, iws + ipWin) end
af = af + 1
if aws == 0 then aws = now end
save(KEYS[1], acctExp(af, aws, alu), 'f', af, 'ws', aws, 'lu', alu, 'lv', alv)
if ipMax > 0 then
  iff = iff + 1
  if iws == 0 then iws = now end
  save(KEYS[2], ipExp(iff, iws, ilu), 'f', iff, 'ws', iws, 'lu', ilu)
end
return {1, 0, 0, 0, af, iff}
`

/**
 * ARGV[11] = via ('device' | 'account'), ARGV[12] = counted (1|0), ARGV[13] = outcome ('success' | 'failure' | 'unknown').
 * Returns {accountFailures, ipFailures, deviceFailures, lockedAccount 0|1, until, durationMs, level, lockedIp 0|1, until, durationMs}.
 */
export const LOCKOUT_RECORD = `${LOCKOUT_PRELUDE}
local via = ARGV[11]
local counted = ARGV[12] == '1'
local outcome = ARGV[13]

if via == 'device' and hasDev then
  local df, dws = load(KEYS[3])
  if dws > 0 and now - dws >= win then
    df = 0
    dws = 0
  end
  if outcome == 'success' then
    df = 0
    dws = 0
    if not (alu > now) and af > 0 then
      af = 0
      aws = 0
      save(KEYS[1], acctExp(af, aws, alu), 'f', af, 'ws', aws, 'lu', alu, 'lv', alv)
    end
  elseif outcome == 'failure' then
    if not counted then
      df = df + 1
      if dws == 0 then dws = now end
    end
  elseif counted and df > 0 then
    df = df - 1
  end
  save(KEYS[3], devExp(df, dws), 'f', df, 'ws', dws)
  return {af, iff, df, 0, 0, 0, 0, 0, 0, 0}
end

local perIp = ipMax > 0
local wa = false
local wi = false
local la = {0, 0, 0, 0}
local li = {0, 0, 0}
if outcome == 'success' then
  af = 0
  aws = 0
  wa = true
  if counted and perIp and iff > 0 then
    iff = iff - 1
    wi = true
  end
elseif outcome == 'unknown' then
  if counted then
    if af > 0 then af = af - 1 end
    wa = true
    if perIp and iff > 0 then
      iff = iff - 1
      wi = true
    end
  end
else
  if not counted then
    if not (alu > now) then
      af = af + 1
      if aws == 0 then aws = now end
      wa = true
    end
    if perIp and not (ilu > now) then
      iff = iff + 1
      if iws == 0 then iws = now end
      wi = true
    end
  end
  if not (alu > now) and af >= maxF then
    local lv = alv
    if lv > 40 then lv = 40 end
    local dur = lockMs * 2 ^ lv
    if not (dur < maxLock) then dur = maxLock end
    alu = now + dur
    if alv < 40 then alv = alv + 1 else alv = 40 end
    af = 0
    aws = 0
    wa = true
    la = {1, alu, dur, alv}
  end
  if perIp and not (ilu > now) and iff >= ipMax then
    ilu = now + ipLock
    iff = 0
    iws = 0
    wi = true
    li = {1, ilu, ipLock}
  end
end
if wa then save(KEYS[1], acctExp(af, aws, alu), 'f', af, 'ws', aws, 'lu', alu, 'lv', alv) end
if wi then save(KEYS[2], ipExp(iff, iws, ilu), 'f', iff, 'ws', iws, 'lu', ilu) end
return {af, iff, 0, la[1], la[2], la[3], la[4], li[1], li[2], li[3]}
`
