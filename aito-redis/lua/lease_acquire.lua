-- Takes a free or lapsed lease, or renews one's own.
-- KEYS[1] lease; ARGV[1] holder, ARGV[2] time to live in ms
-- Returns 1 when the holder holds the lease now, else 0.
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
