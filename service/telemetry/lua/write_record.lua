-- KEYS: stream, record hash, drift keys...
-- ARGV: maxlen, ttl, number of field pairs, field_1, value_1, ..., drift args...
if redis.call('EXISTS', KEYS[2]) == 1 then
  return false
end
local nf = tonumber(ARGV[3])
local fields = {}
for i = 1, 2 * nf do
  fields[i] = ARGV[3 + i]
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[2])
local dkeys = {}
for i = 3, #KEYS do
  dkeys[#dkeys + 1] = KEYS[i]
end
local dargs = {}
for i = 4 + 2 * nf, #ARGV do
  dargs[#dargs + 1] = ARGV[i]
end
return drift_update(dkeys, dargs)
