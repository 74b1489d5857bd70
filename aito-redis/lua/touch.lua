-- Sets the idle time of pending entries that this consumer still owns: 0 keeps entries being
-- handled from being reclaimed (a heartbeat); a large value hands them over at once (the
-- subscription ended without acknowledging them). Entries acknowledged meanwhile, or taken
-- over by another consumer, are left alone and returned so the caller forgets them.
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] idle ms, ARGV[4..] entry ids
local gone = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[3], 'JUSTID')
  else
    gone[#gone + 1] = id
  end
end
return gone
