-- Takes every acknowledgement label ARGV[2..] in hash KEYS[1] for ARGV[1] (`<node>:<session>`),
-- or none; returns the first label someone else holds, or false.
for i = 2, #ARGV do
  local holder = redis.call('HGET', KEYS[1], ARGV[i])
  if holder and holder ~= ARGV[1] then return ARGV[i] end
end
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
return false
