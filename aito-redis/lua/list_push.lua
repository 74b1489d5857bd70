-- Appends to a bounded list and drops the oldest entries beyond the bound.
-- KEYS[1] list; ARGV[1] how many to keep, ARGV[2] entry
local keep = tonumber(ARGV[1])
if keep <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], -keep, -1)
return 1
