-- The counters of one audit record (service.telemetry.counting.record_increments), for /stats:
-- the running totals and one time bucket per resolution, each bucket with its TTL.
-- keys: counts, bucket_1 .. bucket_m
-- args: n_inc, field_1, inc_1, ..., ttl_1 .. ttl_m
local function count_record(keys, args)
  local n_inc = tonumber(args[1])
  for b = 1, #keys do
    for i = 0, n_inc - 1 do
      redis.call('HINCRBY', keys[b], args[2 + 2 * i], args[3 + 2 * i])
    end
    if b > 1 then
      redis.call('EXPIRE', keys[b], args[2 + 2 * n_inc + (b - 2)])
    end
  end
end
