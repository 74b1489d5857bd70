-- Removes the consumers of a group, other than the caller, that hold no pending entry: every
-- daemon instance reads under a name of its own, so without this a group would keep a
-- consumer for every instance that ever ran. A consumer with nothing pending holds nothing,
-- and a live one is created again by its next read. The check and the removal are one script,
-- so an entry read in between is never dropped with its consumer.
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] the caller's consumer
local removed = 0
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #info, 2 do
    if info[i] == 'name' then
      name = info[i + 1]
    elseif info[i] == 'pending' then
      pending = info[i + 1]
    end
  end
  if name ~= nil and name ~= ARGV[2] and pending == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed = removed + 1
  end
end
return removed
