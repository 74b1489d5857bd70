-- Books a cost once: adds to counters and releases a hold, unless booked before.
-- KEYS[1] the booking's mark; KEYS[2 .. 1+n] counters; KEYS[2+n ..] hashes of holds
-- ARGV[1] hold id, ARGV[2] mark time to live (ms), ARGV[3] counter time to live (ms),
--   ARGV[4] n, ARGV[5 .. 4+n] amounts
-- Returns 1 when booked now, 0 when booked before.
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[2]) then
  return 0
end
local n = tonumber(ARGV[4])
for i = 1, n do
  redis.call('INCRBYFLOAT', KEYS[1 + i], ARGV[4 + i])
  if redis.call('PTTL', KEYS[1 + i]) == -1 then
    redis.call('PEXPIRE', KEYS[1 + i], ARGV[3])
  end
end
for i = 2 + n, #KEYS do
  redis.call('HDEL', KEYS[i], ARGV[1])
end
return 1
