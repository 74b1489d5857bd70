-- The documents of the decisions in an index, oldest first.
-- KEYS[1] index (sorted set of ids by creation time)
-- ARGV[1] prefix of decision keys
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local doc = redis.call('HGET', ARGV[1] .. id, 'doc')
  if doc then
    out[#out + 1] = doc
  end
end
return out
