-- KEYS: baseline, cusum, pending; ARGV: field, value, ... Sets the baseline only if none is
-- set, then runs the CUSUM over the flips ('<flip>|<stratum>') that arrived after the warm-up
-- was full.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('DEL', KEYS[2])
local result = {'cusum', '0', '0', '0', ''}
for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  -- entries written before strata existed hold the flip alone: the pooled increments apply
  local flip, stratum = entry, ''
  local sep = string.find(entry, '|', 1, true)
  if sep then
    flip, stratum = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
  end
  result = cusum_step(KEYS[1], KEYS[2], flip, stratum)
end
redis.call('DEL', KEYS[3])
return result
