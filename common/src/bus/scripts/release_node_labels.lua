-- Drops every acknowledgement label in hash KEYS[1] held by a session of node ARGV[1]
-- (holders are `<node>:<session>`).
local all = redis.call('HGETALL', KEYS[1])
local prefix = ARGV[1] .. ':'
for i = 1, #all, 2 do
  if string.sub(all[i + 1], 1, #prefix) == prefix then redis.call('HDEL', KEYS[1], all[i]) end
end
return 0
