-- Holds an estimate against every limit, or against none.
-- KEYS: for each limit i, KEYS[2i-1] its spent counter and KEYS[2i] its hash of holds
--   (hold id -> "amount:expires-ms").
-- ARGV[1] hold id, ARGV[2] amount, ARGV[3] now (ms), ARGV[4] expiry (ms), ARGV[5] time to
--   live of a hash of holds (ms), ARGV[5+i] limit i
-- Returns {'1'} when held, {'0', i, spent, held} when limit i (from 0) refused, as strings.
local id = ARGV[1]
local amount = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local count = #KEYS / 2
for i = 1, count do
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local held = 0
  local holds = redis.call('HGETALL', KEYS[2 * i])
  for j = 1, #holds, 2 do
    local hold = holds[j]
    local sep = string.find(holds[j + 1], ':', 1, true)
    local value = tonumber(string.sub(holds[j + 1], 1, sep - 1))
    local expires = tonumber(string.sub(holds[j + 1], sep + 1))
    if expires <= now then
      redis.call('HDEL', KEYS[2 * i], hold)
    elseif hold ~= id then
      held = held + value
    end
  end
  if spent + held + amount > tonumber(ARGV[5 + i]) + 1e-9 then
    return {'0', tostring(i - 1), tostring(spent), tostring(held)}
  end
end
for i = 1, count do
  redis.call('HSET', KEYS[2 * i], id, ARGV[2] .. ':' .. ARGV[4])
  redis.call('PEXPIRE', KEYS[2 * i], ARGV[5])
end
return {'1'}
