-- Sets the idle time of pending entries that this consumer still owns: 0 keeps entries being
-- handled from being reclaimed (a heartbeat); a large value hands them over at once (the
-- subscription ended without acknowledging them). Entries acknowledged meanwhile, or taken
-- over by another consumer, are left alone and returned so the caller forgets them.
-- A batch costs two commands whatever its size: one XPENDING of this consumer's entries
-- between the first and the last id, one XCLAIM of those still owned (one XPENDING per id
-- only for the ids a truncated range did not show).
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] idle ms, ARGV[4..] entry ids in stream order
local wanted = #ARGV - 3
if wanted < 1 then
  return {}
end
local limit = wanted * 2 + 64
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[4], ARGV[#ARGV], limit, ARGV[2])
local owned = {}
for _, entry in ipairs(pending) do
  owned[entry[1]] = true
end
local complete = #pending < limit
local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
local gone = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local mine = owned[id]
  if not mine and not complete then
    local entry = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    mine = entry[1] ~= nil and entry[1][2] == ARGV[2]
  end
  if mine then
    claim[#claim + 1] = id
  else
    gone[#gone + 1] = id
  end
end
if #claim > 5 then
  claim[#claim + 1] = 'IDLE'
  claim[#claim + 1] = ARGV[3]
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
return gone
