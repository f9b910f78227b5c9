-- One request against a caller's two limits (GCRA), taken from both or
-- from neither.
--
-- KEYS[1], KEYS[2]: the per-second and per-hour keys. Each holds the
-- bucket's theoretical arrival time (TAT) in µs: the time at which the
-- bucket would be full again.
-- ARGV[1]: now in µs, or "" for Redis's own clock (one clock for every
-- replica).
-- ARGV[2], ARGV[3]: the per-second limit's emission interval (µs per
-- request, 0 for no limit) and burst; ARGV[4], ARGV[5]: the hour's.
--
-- A request is allowed when TAT + interval - burst * interval <= now,
-- which is a token bucket of burst tokens refilled one per interval.
-- Returns {1, 0} when it is allowed, or {0, µs to wait} (nothing taken).
local now = tonumber(ARGV[1])
if not now then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local wait = 0
local tats = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  if interval > 0 then
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    local new_tat = tat + interval
    local at = new_tat - burst * interval
    if at > now then
      wait = math.max(wait, at - now)
    end
    tats[i] = new_tat
  end
end
if wait > 0 then
  return {0, wait}
end
for i = 1, 2 do
  if tats[i] then
    -- the key outlives its bucket's refill by nothing: gone, it reads as full
    redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
  end
end
return {1, 0}
