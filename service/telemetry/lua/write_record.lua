-- KEYS: stream, record hash, audit ids of the request id, counter keys..., drift keys...
-- ARGV: maxlen, ttl, audit_id, number of field pairs, field_1, value_1, ...,
--       number of counter keys, number of counter args, counter args..., drift args...
-- Returns false for a retry of a record already written (its audit_id is known); otherwise
-- {'new' | 'reused', drift result...}. A request id that already has a record keeps both: the
-- stream, the counters and the drift state get every record, the hash holds the latest.
if redis.call('SADD', KEYS[3], ARGV[3]) == 0 then
  return false
end
redis.call('EXPIRE', KEYS[3], ARGV[2])
local status = 'new'
if redis.call('SCARD', KEYS[3]) > 1 then
  status = 'reused'
  redis.call('DEL', KEYS[2])
end
local nf = tonumber(ARGV[4])
local fields = {}
for i = 1, 2 * nf do
  fields[i] = ARGV[4 + i]
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[2])
local n_ckeys = tonumber(ARGV[5 + 2 * nf])
local n_cargs = tonumber(ARGV[6 + 2 * nf])
local ckeys, cargs, dkeys, dargs = {}, {}, {}, {}
for i = 4, #KEYS do
  if i < 4 + n_ckeys then
    ckeys[#ckeys + 1] = KEYS[i]
  else
    dkeys[#dkeys + 1] = KEYS[i]
  end
end
for i = 7 + 2 * nf, #ARGV do
  if i < 7 + 2 * nf + n_cargs then
    cargs[#cargs + 1] = ARGV[i]
  else
    dargs[#dargs + 1] = ARGV[i]
  end
end
count_record(ckeys, cargs)
local result = drift_update(dkeys, dargs)
table.insert(result, 1, status)
return result
