-- keys: baseline, cusum, warmup, pending, counts, bucket_1 .. bucket_m
-- args: min_audits, flip_shuffled ('' | '0' | '1'), stratum, n_inc, field_1, inc_1, ...,
--       ttl_1 .. ttl_m
local function drift_update(keys, args)
  local n_inc = tonumber(args[4])
  for b = 5, #keys do
    for i = 0, n_inc - 1 do
      redis.call('HINCRBY', keys[b], args[5 + 2 * i], args[6 + 2 * i])
    end
    if b > 5 then
      redis.call('EXPIRE', keys[b], args[5 + 2 * n_inc + (b - 6)])
    end
  end
  local flip = args[2]
  local stratum = args[3]
  if flip ~= '0' and flip ~= '1' then
    return {'unknown'}
  end
  if redis.call('HEXISTS', keys[1], 'w_flip') == 1 then
    return cusum_step(keys[1], keys[2], flip, stratum)
  end
  local warm = redis.call('HMGET', keys[3], 'n', 'k')
  local n = tonumber(warm[1] or '0')
  local k = tonumber(warm[2] or '0')
  if n < tonumber(args[1]) then
    n = n + 1
    k = k + tonumber(flip)
    redis.call('HSET', keys[3], 'n', tostring(n), 'k', tostring(k))
    redis.call('HINCRBY', keys[3], 'n:' .. stratum, 1)
    redis.call('HINCRBY', keys[3], 'k:' .. stratum, tonumber(flip))
  else
    -- the warm-up is full but no replica has frozen the baseline yet: keep the flip for it
    redis.call('RPUSH', keys[4], flip .. '|' .. stratum)
    redis.call('LTRIM', keys[4], -PENDING_MAX, -1)
  end
  return {'warmup', tostring(n), tostring(k)}
end
