-- Acknowledges stream entries for a group and, for an agent inbox (one group only), deletes
-- them, so an inbox holds exactly the envelopes not yet acknowledged.
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] "1" to delete, ARGV[3..] entry ids
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
if ARGV[2] == '1' then
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return acked
