-- Issues mappings atomically (see redis.go). KEYS[1] is the store's meta
-- key; ARGV: the key generation, the count, then for each mapping its
-- forward key, the pseudonym's reverse key, the original's keyed hash, the
-- original's reverse key, the pseudonym's keyed hash, "1" when the
-- pseudonym is the original itself, and the sealed mapping.
-- Refuses with GONE when the store's meta is gone (a reset, or a Redis
-- that lost its data), STALE when its key generation changed. Answers,
-- for each: the sealed mapping already recorded for the original,
-- "+" recorded now, "-" the original is another's pseudonym (never masked
-- again), "?" the pseudonym is taken (propose another).
-- The log entry is pushed before anything else is written, so a failed
-- write leaves no mapping outside the log.
local meta = KEYS[1]
local p = string.sub(meta, 1, #meta - 4)
local gen = redis.call('HGET', meta, 'gen')
if not gen then
  return redis.error_reply('GONE the store is not in this Redis')
end
if gen ~= ARGV[1] or gen == 'rotating' then
  return redis.error_reply('STALE the store key was rotated')
end
local n = tonumber(ARGV[2])
local out = {}
local at = 3
for i = 1, n do
  local f, r, o, ro, op, same, val =
    ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5], ARGV[at + 6]
  at = at + 7
  local have = redis.call('GET', p .. 'f:' .. f)
  if have then
    out[i] = have
  else
    local byOrig = redis.call('GET', p .. 'r:' .. ro)
    if byOrig and string.sub(byOrig, 1, 32) ~= o then
      out[i] = '-'
    else
      local byPseud = redis.call('GET', p .. 'r:' .. r)
      if (byPseud and string.sub(byPseud, 1, 32) ~= o)
        or (same == '0' and redis.call('EXISTS', p .. 'o:' .. op) == 1) then
        out[i] = '?'
      else
        redis.call('RPUSH', p .. 'log', f .. val)
        redis.call('SET', p .. 'f:' .. f, val)
        if not byPseud then
          redis.call('SET', p .. 'r:' .. r, o .. f)
        end
        redis.call('SET', p .. 'o:' .. o, '')
        out[i] = '+'
      end
    end
  end
end
return out
