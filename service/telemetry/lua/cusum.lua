-- One CUSUM step (audits.science.drift.BernoulliCusum.update): base = {w_flip, w_stable, h}.
local function cusum_step(base, cusum_key, flip)
  local st = redis.call('HMGET', cusum_key, 'statistic', 'n', 'alarm', 'alarm_at')
  local s = tonumber(st[1] or '0')
  local n = tonumber(st[2] or '0') + 1
  local alarm = st[3] == '1'
  local alarm_at = st[4] or ''
  if flip == '1' then
    s = s + tonumber(base[1])
  else
    s = s + tonumber(base[2])
  end
  if s < 0 then
    s = 0
  end
  if (not alarm) and s >= tonumber(base[3]) then
    alarm = true
    alarm_at = tostring(n)
  end
  local alarm_s = '0'
  if alarm then
    alarm_s = '1'
  end
  local s_text = string.format('%.17g', s)
  redis.call('HSET', cusum_key, 'statistic', s_text, 'n', tostring(n), 'alarm', alarm_s,
    'alarm_at', alarm_at)
  return {'cusum', s_text, tostring(n), alarm_s, alarm_at}
end
