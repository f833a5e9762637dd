-- KEYS: baseline, cusum, warmup, pending; ARGV: field, value, ... Replaces the baseline; the
-- CUSUM, the warm-up and the pending flips start again (one script: atomic on a cluster too).
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
