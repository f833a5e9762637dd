-- KEYS: record hash, feedback counters; ARGV: reference_fp, condition_1, ok_1, ...
-- Returns -1 (no record), 0 (same reference again), 1 (first feedback), 2 (replaced).
local rec, fb = KEYS[1], KEYS[2]
if redis.call('EXISTS', rec) == 0 then
  return -1
end
local prev = redis.call('HGET', rec, 'reference_fp')
if prev == ARGV[1] then
  return 0
end
local function pair_field()
  local r = redis.call('HGET', rec, 'correct_real')
  local s = redis.call('HGET', rec, 'correct_shuffled')
  if r and s then
    return 'pair_' .. r .. s
  end
  return nil
end
if prev then
  local pf = pair_field()
  if pf then
    redis.call('HINCRBY', fb, pf, -1)
  end
  -- every condition judged before, whatever conditions the service audits now
  local fields = redis.call('HGETALL', rec)
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 8) == 'correct_' then
      local c = string.sub(name, 9)
      redis.call('HINCRBY', fb, 'n_' .. c, -1)
      redis.call('HINCRBY', fb, name, 0 - tonumber(fields[i + 1]))
      redis.call('HDEL', rec, name)
    end
  end
else
  redis.call('HINCRBY', fb, 'n', 1)
end
redis.call('HSET', rec, 'reference_fp', ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', rec, 'correct_' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', fb, 'n_' .. ARGV[i], 1)
  redis.call('HINCRBY', fb, 'correct_' .. ARGV[i], tonumber(ARGV[i + 1]))
end
local pf = pair_field()
if pf then
  redis.call('HINCRBY', fb, pf, 1)
end
if prev then
  return 2
end
return 1
