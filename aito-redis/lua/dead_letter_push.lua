-- Puts a dead letter on the bounded list, once per agent and trigger when an id is given.
-- KEYS[1] dead-letter list, KEYS[2] set of the `<agent>/<trigger>` ids of the letters kept
-- ARGV[1] how many letters to keep, ARGV[2] letter (DeadLetter JSON), ARGV[3] its id, or ''
-- Returns 1 when pushed, 0 when a letter with that id is kept already.
if ARGV[3] ~= '' and redis.call('SADD', KEYS[2], ARGV[3]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[2])
local keep = tonumber(ARGV[1])
while redis.call('LLEN', KEYS[1]) > keep do
  local ok, letter = pcall(cjson.decode, redis.call('LPOP', KEYS[1]))
  if ok and type(letter) == 'table' and type(letter.trigger) == 'table' then
    redis.call('SREM', KEYS[2], tostring(letter.agent) .. '/' .. tostring(letter.trigger.id))
  end
end
return 1
