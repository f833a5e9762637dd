-- One audit's step of the drift detector: the CUSUM once a baseline is set; before that the
-- warm-up counts (in total and per stratum), and once the warm-up is full the flips that wait
-- for the freeze.
-- keys: baseline, cusum, warmup, pending
-- args: min_audits, flip_shuffled ('' | '0' | '1'), stratum
local function drift_update(keys, args)
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
