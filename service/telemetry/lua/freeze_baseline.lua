-- KEYS: baseline, cusum, pending; ARGV: field, value, ... Sets the baseline only if none is
-- set, then runs the CUSUM over the flips that arrived after the warm-up was full.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('DEL', KEYS[2])
local base = redis.call('HMGET', KEYS[1], 'w_flip', 'w_stable', 'h')
local result = {'cusum', '0', '0', '0', ''}
for _, flip in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  result = cusum_step(base, KEYS[2], flip)
end
redis.call('DEL', KEYS[3])
return result
