-- One CUSUM step (audits.science.drift.stratified.StratifiedDesign.update): the increments of
-- the audit's stratum (fields w1:<stratum>, w0:<stratum> of the baseline hash) or, for a stratum
-- without its own baseline, the pooled ones (w_flip, w_stable). Also returns the baseline flip
-- rate p0 it compared the audit with (the risk-adjusted expected count, service.telemetry).
local function cusum_step(baseline_key, cusum_key, flip, stratum)
  local base = redis.call('HMGET', baseline_key, 'w_flip', 'w_stable', 'h',
    'w1:' .. stratum, 'w0:' .. stratum, 'p0', 'p0:' .. stratum)
  local w_flip, w_stable, p0 = base[1], base[2], base[6]
  if base[4] and base[5] then
    w_flip, w_stable = base[4], base[5]
    p0 = base[7] or p0
  end
  local st = redis.call('HMGET', cusum_key, 'statistic', 'n', 'alarm', 'alarm_at')
  local s = tonumber(st[1] or '0')
  local n = tonumber(st[2] or '0') + 1
  local alarm = st[3] == '1'
  local alarm_at = st[4] or ''
  if flip == '1' then
    s = s + tonumber(w_flip)
  else
    s = s + tonumber(w_stable)
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
  return {'cusum', s_text, tostring(n), alarm_s, alarm_at, p0 or ''}
end
